"""Review and Team pages (AppTest, the one-person studio: no users, so every right): the review queue
and a decision with a note, the per-annotator table; users added from the Team page, an assignment."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from studio import annotations as ann
from studio import leases, review, users
from studio.classes import list_classes
from tests.conftest import REPO

REVIEW, TEAM = str(REPO / "app_pages" / "review.py"), str(REPO / "app_pages" / "team.py")


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def _drafts(n: int = 2) -> list[int]:
    item = ann.image_queue("shelves")[0]
    box = next(c.id for c in list_classes(dataset="shelves") if c.name == "box")
    ids = []
    for k in range(n):
        mask = np.zeros((item.height, item.width), bool)
        mask[10 + 40 * k : 40 + 40 * k, 10:40] = True
        ids.append(ann.add_annotation(image_id=item.id, class_id=box, mask=mask, source="sam", status="draft",
                                      author="ana", seconds_spent=3))
    return ids


def test_review_accepts_the_drafts_with_a_note(demo_studio: dict[str, str]) -> None:
    ids = _drafts()
    at = _run(AppTest.from_file(REVIEW, default_timeout=60))
    assert at.title[0].value == "Review" and "1 images to review" in at.caption[0].value
    image_id = ann.image_queue("shelves")[0].id
    assert at.multiselect(key=f"review_pick_{image_id}").value == ids  # the drafts, preselected
    at.text_area(key=f"review_note_{image_id}").set_value("tidy masks")
    next(b for b in at.button if b.label == "Accept").click()
    _run(at)
    assert at.success[0].value == "Accepted 2 annotation(s)."
    assert {v.status for v in ann.list_annotations(image_id) if v.id in ids} == {"accepted"}
    assert ann.image_queue("shelves")[0].review_reply == "tidy masks"
    people = at.dataframe[-1].value
    assert list(people["person"]) == ["ana", review.annotator_stats("shelves")[1].name]
    assert int(people["accepted in review"][0]) == 2 and float(people["time spent (min)"][0]) == 0.1


def test_team_adds_the_first_admin_which_turns_logins_on(demo_studio: dict[str, str]) -> None:
    """Without users the page is open (one-person studio). Passwords that differ are refused; the
    first admin turns logins on, so the next run of the page (no login in AppTest) is refused --
    in a browser, the app's gate shows the login page. Changing users and assigning images as a
    logged-in admin is covered in a real browser (tests/e2e/test_login.py)."""
    at = _run(AppTest.from_file(TEAM, default_timeout=60))
    assert "No users" in at.info[0].value
    assert at.selectbox[0].value == "admin"  # the first user is offered as an admin
    at.text_input[0].set_value("Boss")
    at.text_input[2].set_value("admin password")
    at.text_input[3].set_value("another password")
    next(b for b in at.button if b.label == "Add").click()
    _run(at)
    assert at.error[0].value == "the two passwords differ" and users.list_users() == []
    at.text_input[0].set_value("Boss")
    at.text_input[2].set_value("admin password")
    at.text_input[3].set_value("admin password")
    next(b for b in at.button if b.label == "Add").click()
    _run(at)
    assert [(u.name, u.role) for u in users.list_users()] == [("boss", "admin")]
    assert "needs a login" in at.error[0].value
    assert leases.list_assignments() == []


def test_the_login_page_offers_a_configured_oidc_provider(demo_studio: dict[str, str]) -> None:
    """With a user configured, app.py shows the login page only; with an [auth] provider in the
    secrets (what .streamlit/secrets.toml holds) it also offers Streamlit's OIDC login."""
    from tests.pages.conftest import APP

    users.create_user(name="boss", role="admin", password="admin password")
    at = _run(AppTest.from_file(APP, default_timeout=60))
    assert [h.value for h in at.subheader] == ["Log in"] and not [b for b in at.button if "Log in with" in b.label]
    assert not at.title or at.title[0].value == "Studio"  # no page behind the login
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32,
                          "google": {"client_id": "id", "client_secret": "secret",
                                     "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"}}
    _run(at)
    assert [b.label for b in at.button] == ["Log in with google"]
