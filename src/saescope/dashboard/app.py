"""The saescope dashboard (a Streamlit script): run with `saescope dashboard RUN_DIR`.

Reads only the run named by `SAESCOPE_RUN_DIR` (or the first argument after `--`) and the stage
outputs in `SAESCOPE_RUN_PARTS` (see `saescope.dashboard.state.run_spec`). Every page has an
address: `?page=Features&latent=12` is latent 12's page. Heavy work is cached
(`st.cache_data` / `st.cache_resource`, 2-D projections on disk); plots use a random sample of
rows and tables are paginated, so 100,000 rows and 16,000 latents stay responsive.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from saescope.dashboard.page_curation import page_curation
from saescope.dashboard.page_embedding import page_embedding
from saescope.dashboard.page_features import page_features
from saescope.dashboard.page_hypotheses import page_hypotheses
from saescope.dashboard.page_overview import page_overview
from saescope.dashboard.page_try import page_try
from saescope.dashboard.state import get_run, run_spec, warm_up
from saescope.safetext import markdown_text

PAGE_FUNCS = {
    "Overview": page_overview,
    "Embedding space": page_embedding,
    "Features": page_features,
    "Try your text": page_try,
    "Curation": page_curation,
    "Hypotheses": lambda spec: page_hypotheses(str(get_run(spec).layout.hypotheses or get_run(spec).root)),
}
PAGES = tuple(PAGE_FUNCS)


def main() -> None:
    st.set_page_config(page_title="saescope", layout="wide")
    spec = run_spec()
    st.sidebar.title("saescope")
    page = st.sidebar.radio("Page", PAGES, key="page", bind="query-params")
    st.sidebar.caption("run: " + markdown_text(Path(get_run(spec).root).name))
    warm_up(spec)
    PAGE_FUNCS[page](spec)


main()
