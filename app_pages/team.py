"""Team (admins): users and roles, who labels which images (assignments), who is working now
(leases). Rules and checks are studio.users' and studio.leases'; the same as `studio users ...`."""

import pandas as pd
import streamlit as st

from studio import leases, users
from studio.annotations import IMAGE_STATUSES, image_queue
from studio.datasets import list_datasets
from studio.errors import StudioError
from studio.tables import Split
from studio_ui.login import require
from studio_ui.web.auth import forget_users_cache

admin = require("users")
st.title("Team")


def attempt(action, *args, done: str = "", **kwargs) -> None:  # noqa: ANN001 (any core call)
    """Run a core call from a button; its refusal is shown, not raised."""
    try:
        action(*args, **kwargs)
        st.session_state["team_flash"] = ("success", done) if done else None
        forget_users_cache()
    except StudioError as exc:
        st.session_state["team_flash"] = ("error", str(exc))


flash = st.session_state.pop("team_flash", None)
if flash:
    (st.success if flash[0] == "success" else st.error)(flash[1])
people_tab, assign_tab, now_tab = st.tabs(["Users", "Assignments", "Working now"])

with people_tab:
    everyone = users.list_users()
    if not everyone:
        st.info("No users: the studio runs without logins on this machine. Adding the first user (an admin) "
                "turns logins on everywhere, this browser included: you then log in as that user.")
    else:
        st.dataframe(pd.DataFrame([{"user": u.name, "role": u.role, "active": not u.disabled, "e-mail": u.email,
                                    "password": u.has_password, "last login": u.last_login_at} for u in everyone]),
                     hide_index=True, width="stretch")
    with st.form("team_add", clear_on_submit=True):
        st.subheader("Add a user")
        name = st.text_input("User name", placeholder="ana")
        role = st.selectbox("Role", users.ROLES, index=users.ROLES.index("admin") if not everyone else 0)
        email = st.text_input("E-mail (for a single sign-on login; optional)")
        password = st.text_input("Password", type="password")
        again = st.text_input("Password again", type="password")
        if st.form_submit_button("Add", icon=":material/person_add:"):
            if password != again:
                st.session_state["team_flash"] = ("error", "the two passwords differ")
            else:
                attempt(users.create_user, name=name, role=role, password=password, email=email,
                        done=f"added {role} {name.strip().lower()!r}")
            st.rerun()
    if everyone:
        st.subheader("Change a user")
        chosen = st.selectbox("User", [u.name for u in everyone], key="team_user")
        user = next(u for u in everyone if u.name == chosen)
        left, right = st.columns(2)
        new_role = left.selectbox("Role", users.ROLES, index=users.ROLES.index(user.role), key=f"team_role_{chosen}")
        left.button("Set role", on_click=attempt, args=(users.set_role, chosen, new_role),
                    kwargs={"done": f"{chosen} is now {new_role}"}, disabled=new_role == user.role)
        left.button("Enable" if user.disabled else "Disable", on_click=attempt,
                    args=(users.set_disabled, chosen, not user.disabled),
                    kwargs={"done": f"{chosen} {'enabled' if user.disabled else 'disabled'}"})
        new_password = right.text_input("New password", type="password", key=f"team_pw_{chosen}")
        right.button("Set password", on_click=attempt, args=(users.set_password, chosen, new_password),
                     kwargs={"done": f"new password for {chosen}; their open sessions ended"}, disabled=not new_password)
        sure = right.checkbox(f"Yes, remove {chosen}", key=f"team_rm_{chosen}", disabled=chosen == admin.name)
        right.button("Remove user", on_click=attempt, args=(users.remove_user, chosen),
                     kwargs={"done": f"removed {chosen}"}, disabled=not sure)

with assign_tab:
    datasets = [d.name for d in list_datasets()]
    annotators = [u.name for u in users.list_users() if not u.disabled]
    if not datasets or not annotators:
        st.info("Assignments need a dataset and a user.")
    else:
        dataset = st.selectbox("Dataset", datasets, key="team_dataset")
        rows = leases.list_assignments(dataset=dataset)
        total = len(image_queue(dataset))
        if rows:
            st.dataframe(pd.DataFrame([{"id": a.id, "user": a.user, "images": a.describe(), "note": a.note,
                                        "by": a.created_by} for a in rows]), hide_index=True, width="stretch")
            gone = st.selectbox("Assignment", [a.id for a in rows], key="team_unassign")
            st.button("Remove assignment", on_click=attempt, args=(leases.unassign, gone),
                      kwargs={"done": f"assignment {gone} removed"})
        else:
            st.caption("No assignments: every user's 'next to do' covers every image.")
        with st.form("team_assign"):
            st.subheader("Assign images")
            who = st.selectbox("To", annotators)
            first, last = st.slider("Positions (import order)", 1, max(total, 1), (1, max(total, 1)))
            split = st.selectbox("Split", ["", *(s.value for s in Split)], format_func=lambda s: s or "any")
            status = st.selectbox("Status", ["", *IMAGE_STATUSES], format_func=lambda s: s or "any")
            pattern = st.text_input("File names (glob)", placeholder="aisle3/*.jpg")
            note = st.text_input("Note")
            if st.form_submit_button("Assign", icon=":material/assignment_ind:"):
                attempt(leases.assign, dataset=dataset, user=who, split=split, status=status, pattern=pattern,
                        first=first, last=last, note=note, by=admin.name, done=f"images assigned to {who}")
                st.rerun()

with now_tab:
    held = leases.holders()
    if not held:
        st.caption("Nobody holds an image right now.")
    else:
        st.dataframe(pd.DataFrame([{"user": lease.holder, "image id": lease.image_id, "since": lease.acquired_at,
                                    "until": lease.expires_at} for lease in held.values()]),
                     hide_index=True, width="stretch")
