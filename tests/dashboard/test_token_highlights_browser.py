"""Token-level examples in headless Chromium: the report's cards and the dashboard's latent page
shade each token by the latent's activation on it (`token_acts`), as the browser draws it.

The run is the viz tests' sample run with `tokens` / `token_acts` written into its
`examples.parquet` (random activations, so the shading cannot follow the token's position);
the colours read back are the computed backgrounds of the drawn spans.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from test_dashboard_browser import CHROMIUM, DRIVER, make_driver, save_screenshot, serve, wait_idle

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and DRIVER),
                       reason="headless Chromium needs Debian's chromium and chromium-driver"),
]

# Every drawn token span: its text, the activation in its title, its computed background, and
# which example (paragraph or div) it belongs to.
SPANS_JS = r"""
  const out = [];
  const parents = [];
  for (const el of document.querySelectorAll(arguments[0])) {
    let p = parents.indexOf(el.parentElement);
    if (p < 0) { parents.push(el.parentElement); p = parents.length - 1; }
    out.push({text: el.textContent, title: el.getAttribute('title'),
              bg: getComputedStyle(el).backgroundColor, example: p});
  }
  return out;"""


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("test-artifacts")


@pytest.fixture(scope="module")
def token_run(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("token-run") / "run"
    shutil.copytree(sample_run, run)
    path = run / "interpret" / "examples.parquet"
    df = pq.read_table(path).to_pandas()
    rng = np.random.default_rng(0)
    toks, acts = [], []
    for i, a in enumerate(df["activation"]):
        n = int(rng.integers(3, 7))
        own = int(rng.integers(0, n))
        row = rng.uniform(0, 2 * max(float(a), 0.1), n).round(3)
        row[rng.random(n) < 0.3] = 0.0  # tokens it does not fire on
        row[own] = float(a)
        toks.append([f" w{i}_{j}" for j in range(n)])
        acts.append(row.tolist())
    df["tokens"], df["token_acts"] = toks, acts
    df.to_parquet(path, index=False)
    return run


@pytest.fixture(scope="module")
def token_dashboard(token_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(token_run, tmp_path_factory)


def _alpha(css: str) -> float:
    """Alpha of a computed `rgb(...)`/`rgba(...)` colour; the shade must be the report's orange."""
    m = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, ([0-9.]+))?\)", css)
    assert m is not None, css
    alpha = 1.0 if m.group(4) is None else float(m.group(4))
    assert alpha == 0 or m.group(1, 2, 3) == ("255", "120", "0"), css
    return alpha


def _check_shading(spans: list[dict], token_run: Path, latent: int | None = None) -> int:
    """Each drawn example's tokens are those of an example in examples.parquet, in order, and each
    token's alpha is its activation over the example's largest. Returns the examples checked."""
    ex = pq.read_table(token_run / "interpret" / "examples.parquet").to_pandas()
    if latent is not None:
        ex = ex[ex["latent"] == latent]
    truth = {tuple(t): [float(a) for a in acts] for t, acts in zip(ex["tokens"], ex["token_acts"],
                                                                   strict=True)}
    by_example: dict[int, list[dict]] = {}
    for s in spans:
        by_example.setdefault(s["example"], []).append(s)
    for group in by_example.values():
        acts = truth[tuple(s["text"] for s in group)]
        top = max(acts) or 1.0
        for s, a in zip(group, acts, strict=True):
            assert float(s["title"]) == pytest.approx(a, rel=1e-2, abs=1e-3)
            assert _alpha(s["bg"]) == pytest.approx(max(a, 0.0) / top, abs=0.006), (s, a, top)
    return len(by_example)


def test_report_cards_shade_tokens_by_activation(token_run: Path, artifacts: Path, tmp_path: Path):
    from selenium.webdriver.common.by import By

    from saescope.viz.plots import PlotConfig
    from saescope.viz.report import write_report

    report = write_report(token_run, tmp_path / "report.html", PlotConfig(projection="pca", interactive=False))
    driver = make_driver(tmp_path / "profile", offline=True)
    try:
        driver.get(report.as_uri())
        spans = driver.execute_script(SPANS_JS, "#cards p.tokens span.tok")
        assert len(spans) > 20
        assert _check_shading(spans, token_run) >= 10
        alphas = {round(_alpha(s["bg"]), 2) for s in spans}
        assert 0.0 in alphas and 1.0 in alphas and len(alphas) > 10  # shades, not on/off
        first = driver.find_element(By.CSS_SELECTOR, "#cards p.tokens")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", first)
        save_screenshot(driver, artifacts, "report-token-highlights")
    finally:
        driver.quit()


def test_dashboard_latent_page_shades_tokens_by_activation(token_dashboard: str, token_run: Path,
                                                           artifacts: Path, tmp_path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from saescope.viz.rundata import RunData

    lat = RunData(token_run).latents()
    target = int(lat.loc[lat["status"] == "ok", "latent"].iloc[1])
    driver = make_driver(tmp_path / "profile")
    try:
        driver.get(f"{token_dashboard}/?page=Features&latent={target}")
        wait = WebDriverWait(driver, 120)
        wait.until(EC.presence_of_element_located(
            (By.XPATH, '//*[contains(text(), "Where it fires, token by token")]')))
        wait_idle(driver, wait)
        spans = WebDriverWait(driver, 60).until(lambda d: d.execute_script(SPANS_JS, "span.tok"))
        assert _check_shading(spans, token_run, target) == min(
            5, int(((pq.read_table(token_run / "interpret" / "examples.parquet").to_pandas()
                     .query("latent == @target and kind == 'top'"))).shape[0]))
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})",
                              driver.find_element(By.CSS_SELECTOR, "span.tok"))
        save_screenshot(driver, artifacts, "dashboard-token-highlights")
    finally:
        driver.quit()
