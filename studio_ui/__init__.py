"""Streamlit widgets shared by several pages (the core package ``studio`` never imports
streamlit; pages stay thin by calling these)."""
