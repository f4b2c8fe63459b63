"""Streamlit entry: the login gate, then navigation over the pages the user's role may open (and nothing else)."""

from importlib.resources import files

import streamlit as st

from studio.db import database_status
from studio_ui.login import gate, logout_form

# A local favicon: a ":material/...:" page icon makes the browser fetch it from fonts.gstatic.com.
st.set_page_config(page_title="Studio", page_icon=str(files("studio") / "assets" / "favicon.png"), layout="wide")
missing = database_status(connect=False)  # the same STUDIO_HOME rules as the CLI; never creates a file
if missing:
    st.error(missing, icon=":material/database:")
    st.stop()
user = gate()  # the login page alone until someone logs in, when a login is needed (studio_ui.login)
if user.id:  # a logged-in user (not the one-person studio without logins)
    logout_form(user)
DATASETS = st.Page("app_pages/datasets.py", title="Datasets", icon=":material/dataset:")


def home() -> None:
    """The root URL opens Datasets. Datasets itself is not the default page: Streamlit serves a
    default page only at "/", so /datasets would be "Page not found"."""
    st.switch_page(DATASETS)


# what each page needs (studio.users.can): annotators see Datasets (read-only) and Label,
# reviewers also Review, admins everything
PAGES: dict[str, list[tuple[st.Page, str]]] = {
    "Data": [
        (st.Page(home, title="Studio", url_path="home", default=True, visibility="hidden"), "datasets.view"),
        (DATASETS, "datasets.view"),
        (st.Page("app_pages/label.py", title="Label", icon=":material/draw:"), "label"),
        (st.Page("app_pages/review.py", title="Review", icon=":material/rate_review:"), "review"),
    ],
    "Models": [
        (st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"), "models"),
        (st.Page("app_pages/models.py", title="Models", icon=":material/deployed_code:"), "models"),
        (st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/analytics:"), "models"),
        (st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:"), "models"),
    ],
    "Live": [
        (st.Page("app_pages/live.py", title="Live", icon=":material/videocam:"), "live"),
        (st.Page("app_pages/sign.py", title="Sign language", icon=":material/sign_language:"), "live"),
    ],
    "Work": [
        (st.Page("app_pages/jobs.py", title="Jobs", icon=":material/work_history:"), "jobs"),
        (st.Page("app_pages/team.py", title="Team", icon=":material/group:"), "users"),
    ],
}
navigation = st.navigation({section: [page for page, action in pages if user.can(action)]
                            for section, pages in PAGES.items()
                            if any(user.can(action) for _, action in pages)})
navigation.run()
