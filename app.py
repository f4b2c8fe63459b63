"""Streamlit entry: navigation over the pages (and nothing else)."""

import streamlit as st

st.set_page_config(page_title="Studio", page_icon=":material/photo_library:", layout="wide")
navigation = st.navigation({
    "Data": [
        st.Page("app_pages/datasets.py", title="Datasets", icon=":material/dataset:", default=True),
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
