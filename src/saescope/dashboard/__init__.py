"""The Streamlit dashboard (`app.py`, a Streamlit script) and its launcher (`launch.py`)."""
