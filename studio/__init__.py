"""Studio core: data layer, formats, jobs. Never imports streamlit."""

from studio.offline import apply_offline_env

apply_offline_env()

__version__ = "0.1.0"
