"""Who uses the studio, on the Streamlit side: the login page, the logged-in user, what they may do.

app.py calls :func:`gate` first thing: when a login is needed (studio.users.login_required for the
address this server listens on) and the browser has no valid session cookie, the run shows the
login page only and stops. Otherwise it returns the user (:func:`studio.users.local_user` when
no login is needed: the one-person studio, every right).

Pages ask :func:`allowed` / :func:`require` (studio.users.can underneath) and record authors
with :func:`current_author` -- the login's user name, not the OS user.

The login form posts to ``/studio-api/auth/login`` (studio_ui.web.auth), which sets the HttpOnly
cookie and sends the browser back here; a plain HTML form in a components-v2 element, so the
password never goes through the Streamlit session. An OIDC login (``st.login``) is offered when
``.streamlit/secrets.toml`` configures one (``[auth]``); the identity it returns must be a studio
user (their e-mail or name), and a one-time ticket then turns it into the same session cookie.
"""

from __future__ import annotations

import html

import streamlit as st

from studio import sessions, users
from studio.users import UserInfo
from studio_ui.web import auth

FORM_JS = """
export default function (component) {
  const data = component.data || {};
  const root = component.parentElement;
  let form = root.querySelector("form");
  if (!form) {
    form = document.createElement("form");
    form.method = "post";
    form.action = data.action;
    form.className = "studio-auth";
    for (const field of data.fields || []) {
      const label = document.createElement("label");
      label.textContent = field.label;
      const input = document.createElement("input");
      input.name = field.name;
      input.type = field.type || "text";
      input.autocomplete = field.autocomplete || "off";
      input.required = true;
      label.append(input);
      form.append(label);
    }
    const next = document.createElement("input");
    next.type = "hidden";
    next.name = "next";
    form.append(next);
    const button = document.createElement("button");
    button.type = "submit";
    button.textContent = data.button || "Submit";
    form.append(button);
    form.addEventListener("submit", () => {
      const url = new URL(window.location.href);
      for (const key of ["login", "retry"]) url.searchParams.delete(key);
      next.value = url.pathname + url.search;
    });
    root.append(form);
    const first = form.querySelector("input:not([type=hidden])");
    if (first && data.focus) first.focus();
  }
}
"""
FORM_CSS = """
.studio-auth { display: flex; flex-direction: column; gap: 0.75rem; max-width: 22rem; font-family: inherit; }
.studio-auth label { display: flex; flex-direction: column; gap: 0.25rem; font-size: 0.9rem; }
.studio-auth input { padding: 0.5rem 0.6rem; border: 1px solid rgba(49, 51, 63, 0.3); border-radius: 0.5rem;
  font-size: 1rem; }
.studio-auth button { align-self: flex-start; padding: 0.45rem 1rem; border-radius: 0.5rem; cursor: pointer;
  border: 1px solid rgba(49, 51, 63, 0.3); background: transparent; font-size: 1rem; }
.studio-auth button:hover { border-color: #ff4b4b; color: #ff4b4b; }
"""
GO_JS = """
export default function (component) {
  const url = (component.data || {}).url;
  if (url) window.location.replace(url);
}
"""
_form = st.components.v2.component("studio_auth_form", js=FORM_JS, css=FORM_CSS, isolate_styles=True)
_go = st.components.v2.component("studio_auth_go", js=GO_JS, isolate_styles=True)

MESSAGES = {
    "refused": "Wrong user name or password (or the user is disabled).",
    "expired": "That login link has expired: log in again.",
    "out": "You are logged out.",
}


def oidc_provider() -> str | None:
    """The OIDC provider configured in ``.streamlit/secrets.toml`` ("" = the default one), or None."""
    try:
        return users.oidc_provider(st.secrets.to_dict())
    except Exception:  # noqa: BLE001 - no secrets file, or one Streamlit cannot parse: no OIDC
        return None


def _oidc_user() -> tuple[UserInfo | None, str | None]:
    """(studio user, e-mail) of an OIDC login Streamlit holds; (None, None) without one."""
    try:
        if not st.user.is_logged_in:
            return None, None
        email = str(st.user.get("email") or "")
    except Exception:  # noqa: BLE001 - st.user needs an [auth] section
        return None, None
    return users.user_for_email(email), email


def current_user() -> UserInfo | None:
    """The logged-in user of this browser session (None when nobody is, or no login is needed)."""
    if not auth.login_needed():
        return None
    return sessions.session_user(st.context.cookies.get(sessions.COOKIE))


def gate() -> UserInfo:
    """The user of this run; shows the login page and stops the run when a login is needed and
    nobody is logged in (see the module docstring)."""
    if not auth.login_needed():
        return users.local_user()
    user = sessions.session_user(st.context.cookies.get(sessions.COOKIE))
    if user is not None:
        return user
    login_page()
    st.stop()
    raise AssertionError("unreachable")  # st.stop() ends the run


def login_page() -> None:
    st.title("Studio")
    if not auth.users_configured():
        st.error("This studio is reachable from other machines and has no users yet, so nobody can log in. "
                 f"On the studio's machine, {users.first_admin_hint()}.", icon=":material/lock:")
        return
    provider = oidc_provider()
    oidc, email = _oidc_user() if provider is not None else (None, None)
    if oidc is not None:  # Streamlit's OIDC login knows them: hand the browser the session cookie
        st.info(f"Logging in as **{oidc.name}** …", icon=":material/login:")
        _go(data={"url": auth.ticket_url(oidc, _path_of(st.context.url))}, key="studio_auth_go")
        return
    st.subheader("Log in")
    params = st.query_params
    state = params.get("login", "")
    if state == "wait":
        st.error(f"Too many failed logins: try again in {html.escape(params.get('retry', '30'))} s.",
                 icon=":material/timer:")
    elif state in MESSAGES:
        (st.info if state == "out" else st.error)(MESSAGES[state], icon=":material/lock:")
    if email:
        st.error(f"{email} is not a user of this studio: ask an admin to run "
                 f"`studio users add NAME --email {email} --role annotator --no-password`.")
        st.button("Log out of the single sign-on", on_click=st.logout)
    _form(data={"action": f"{auth.BASE}/login", "button": "Log in", "focus": True, "fields": [
        {"name": "name", "label": "User name", "autocomplete": "username"},
        {"name": "password", "label": "Password", "type": "password", "autocomplete": "current-password"},
    ]}, key="studio_login_form")
    if provider is not None and not email:
        st.divider()
        label = f"Log in with {provider}" if provider else "Log in with single sign-on"
        st.button(label, icon=":material/passkey:", on_click=st.login, args=(provider,) if provider else ())


def _path_of(url: str | None) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url or "/").path or "/"


def logout_form(user: UserInfo) -> None:
    """The sidebar's "who am I" and a Log out button (a form POST to the logout route)."""
    with st.sidebar:
        st.caption(f":material/person: **{user.name}** · {user.role}")
        _form(data={"action": f"{auth.BASE}/logout", "button": "Log out", "fields": []}, key="studio_logout_form")


NOBODY = UserInfo(id=0, name="", role="")  # not logged in where a login is needed: no right at all


def _user() -> UserInfo:
    if not auth.login_needed():
        return users.local_user()
    user = sessions.session_user(st.context.cookies.get(sessions.COOKIE))
    return user if user is not None else NOBODY


def allowed(action: str) -> bool:
    """Whether the user of this run may do ``action`` (studio.users.ACTIONS)."""
    return _user().can(action)


def require(action: str) -> UserInfo:
    """The user of this run when they may do ``action``; otherwise say so and stop the page."""
    user = _user()
    if not user.can(action):
        if user is NOBODY:
            st.error("This studio needs a login: reload the page to log in.", icon=":material/lock:")
        else:
            st.error(f"{user.name} ({user.role}) may not open this page; ask an admin.", icon=":material/block:")
        st.stop()
    return user


def current_author() -> str:
    """The name recorded as author / editor of what this run writes: the login's user name, or
    the OS user (STUDIO_AUTHOR) when the studio needs no login."""
    return _user().name
