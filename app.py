"""Streamlit entry: navigation over the pages (and nothing else)."""

from importlib.resources import files

import streamlit as st

from studio.db import database_status

# A local favicon: a ":material/...:" page icon makes the browser fetch it from fonts.gstatic.com.
st.set_page_config(page_title="Studio", page_icon=str(files("studio") / "assets" / "favicon.png"), layout="wide")
missing = database_status(connect=False)  # the same STUDIO_HOME rules as the CLI; never creates a file
if missing:
    st.error(missing, icon=":material/database:")
    st.stop()
DATASETS = st.Page("app_pages/datasets.py", title="Datasets", icon=":material/dataset:")


def home() -> None:
    """The root URL opens Datasets. Datasets itself is not the default page: Streamlit serves a
    default page only at "/", so /datasets would be "Page not found"."""
    st.switch_page(DATASETS)


navigation = st.navigation({
    "Data": [
        st.Page(home, title="Studio", url_path="home", default=True, visibility="hidden"),
        DATASETS,
        st.Page("app_pages/label.py", title="Label", icon=":material/draw:"),
    ],
    "Models": [
        st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("app_pages/models.py", title="Models", icon=":material/deployed_code:"),
        st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
        st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:"),
    ],
    "Live": [
        st.Page("app_pages/live.py", title="Live", icon=":material/videocam:"),
        st.Page("app_pages/sign.py", title="Sign language", icon=":material/sign_language:"),
    ],
    "Work": [
        st.Page("app_pages/jobs.py", title="Jobs", icon=":material/work_history:"),
    ],
})
navigation.run()
