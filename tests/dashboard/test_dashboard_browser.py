"""End to end in headless Chromium: `saescope dashboard` and the HTML report.

Needs Debian's `chromium` and `chromium-driver` (`.ci/tests.sh` installs them); skipped with a
reason when they are absent. Screenshots go to a temporary artifacts folder and, when the
repository has one, to ./test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and DRIVER),
                       reason="headless Chromium needs Debian's chromium and chromium-driver "
                              "(apt-get install chromium chromium-driver)"),
]
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("test-artifacts")


def save_screenshot(driver, artifacts: Path, name: str) -> Path:
    path = artifacts / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"screenshot {name} failed"
    repo_artifacts = Path("test-artifacts")
    if repo_artifacts.is_dir():
        shutil.copy(path, repo_artifacts / path.name)
    return path


def make_driver(profile: Path, offline: bool = False):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={profile}")
    if offline:
        # Any request leaving the page goes to a dead proxy; the performance log lists requests.
        opts.add_argument("--proxy-server=http://127.0.0.1:9")
        opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    return driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(sample_run, tmp_path_factory)


@pytest.fixture(scope="module")
def planted_dashboard(planted_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(planted_run, tmp_path_factory)


def serve(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`saescope dashboard RUN_DIR` on a free port until the module's tests are done."""
    sample_run = run_dir
    port = free_port()
    log = tmp_path_factory.mktemp("dashboard-log") / "streamlit.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "saescope.cli.main", "dashboard", str(sample_run),
             "--port", str(port)], stdout=fh, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"dashboard did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        # The CLI execs into Streamlit: stopping this process (its own session) stops the server.
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        assert proc.returncode is not None


# Page -> text that appears only once the page has rendered its main content.
PAGES = {
    "Overview": "Training curves",
    "Embedding space": "Most similar pairs in the sample",
    "Features": "Similar latents",
    "Try your text": "Type some text",
    "Curation": "Metrics against baselines",
}


def test_dashboard_pages_in_chromium(dashboard: str, artifacts: Path, tmp_path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver = make_driver(tmp_path / "profile")
    try:
        driver.get(dashboard)
        wait = WebDriverWait(driver, 120)
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="stSidebar"]')))
        for page, marker in PAGES.items():
            label = wait.until(EC.element_to_be_clickable(
                (By.XPATH, f'//section[@data-testid="stSidebar"]//label[.//p[text()="{page}"]]')))
            label.click()
            wait.until(EC.presence_of_element_located(
                (By.XPATH, f'//*[contains(text(), "{marker}")]')))
            # Let the script run finish (the status widget disappears when idle).
            wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
            assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), page
            body = driver.find_element(By.TAG_NAME, "body").text
            assert marker in body and "Traceback" not in body
            shot = save_screenshot(driver, artifacts, "dashboard-" + page.lower().replace(" ", "-"))
            assert shot.stat().st_size > 10_000
            if page == "Try your text":
                box = wait.until(EC.element_to_be_clickable(
                    (By.CSS_SELECTOR, '[data-testid="stTextArea"] textarea')))
                box.send_keys("Which planet is closest to the sun?")
                box.send_keys(Keys.CONTROL, Keys.ENTER)
                wait.until(EC.presence_of_element_located(
                    (By.XPATH, '//*[contains(text(), "active latents")]')))
                assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
                save_screenshot(driver, artifacts, "dashboard-try-your-text-result")
    finally:
        driver.quit()


def test_report_opens_offline_and_shows_tables(sample_run: Path, artifacts: Path, tmp_path: Path):
    from selenium.webdriver.common.by import By

    from saescope.viz.plots import PlotConfig
    from saescope.viz.report import write_report
    from saescope.viz.rundata import RunData

    report = write_report(sample_run, tmp_path / "report.html",
                          PlotConfig(projection="pca", interactive=False))
    n_latents = len(RunData(sample_run).latents())
    driver = make_driver(tmp_path / "profile", offline=True)
    try:
        driver.get(report.as_uri())
        rows = driver.find_elements(By.CSS_SELECTOR, "#latents-table tbody tr")
        assert len(rows) == n_latents and rows[0].is_displayed()
        assert driver.find_element(By.ID, "curation-metrics").is_displayed()
        imgs = driver.find_elements(By.CSS_SELECTOR, "figure img")
        assert imgs and all(driver.execute_script("return arguments[0].naturalWidth", i) > 0
                            for i in imgs)
        # Sorting by latent id (click twice: ascending then descending) reorders the rows.
        header = driver.find_element(By.XPATH, '//table[@id="latents-table"]//th[text()="latent"]')
        header.click()
        first = driver.find_element(By.CSS_SELECTOR, "#latents-table tbody tr td").text
        header.click()
        last_first = driver.find_element(By.CSS_SELECTOR, "#latents-table tbody tr td").text
        assert (int(first), int(last_first)) == (0, n_latents - 1)
        # The filter box hides non-matching rows.
        box = driver.find_element(By.ID, "latent-filter")
        box.send_keys("zzzz-no-such-explanation")
        visible = [r for r in driver.find_elements(By.CSS_SELECTOR, "#latents-table tbody tr")
                   if r.is_displayed()]
        assert visible == []
        box.clear()
        driver.execute_script("filterLatents('')")  # clear() fires no input event
        # Every live latent has a card; one beyond the open ones opens from its id in the index.
        cards = driver.find_elements(By.CSS_SELECTOR, "#cards article")
        lat = RunData(sample_run).latents()
        assert len(cards) == int((lat["status"] == "ok").sum())
        hidden = next(c for c in cards[20:] if not c.is_displayed())
        lid = hidden.get_attribute("id").split("-")[1]
        link = driver.find_element(By.CSS_SELECTOR, f'#latents-table a[href="#latent-{lid}"]')
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
        link.click()
        assert hidden.is_displayed() and f"Latent {lid}:" in hidden.text
        save_screenshot(driver, artifacts, "report")
        # Nothing was fetched from a network: the file itself, inline data, browser-internal pages.
        urls = []
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") == "Network.requestWillBeSent":
                urls.append(msg["params"]["request"]["url"])
        assert report.as_uri() in urls
        remote = [u for u in urls if not u.startswith(("file:", "data:", "chrome:", "chrome-"))]
        assert remote == [], remote[:5]
    finally:
        driver.quit()


def wait_idle(driver, wait) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')


def test_latent_page_by_url(dashboard: str, sample_run: Path, artifacts: Path, tmp_path: Path):
    """Issue 12: a latent's page is an address; it renders its feature-page sections."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from saescope.viz.rundata import RunData

    lat = RunData(sample_run).latents()
    target = int(lat.loc[lat["status"] == "ok", "latent"].iloc[2])
    driver = make_driver(tmp_path / "profile")
    try:
        driver.get(f"{dashboard}/?page=Features&latent={target}")
        wait = WebDriverWait(driver, 120)
        wait.until(EC.presence_of_element_located(
            (By.XPATH, '//*[contains(text(), "Similar latents by decoder cosine")]')))
        wait_idle(driver, wait)
        sections = (f"Latent {target}:", "Top activating examples",
                    "Label breakdown of the top examples", "activation histogram")
        # Plotly draws its titles after the script run ends: wait for the text, then check it.
        WebDriverWait(driver, 60).until(
            lambda d: all(s in d.find_element(By.TAG_NAME, "body").text for s in sections))
        save_screenshot(driver, artifacts, "dashboard-latent-page")
    finally:
        driver.quit()


def test_map_colours_pure_in_chromium(planted_dashboard: str, planted_run: Path, artifacts: Path,
                                      tmp_path: Path):
    """Issue 12, item 1, in the browser: the drawn map's colour groups are spatially pure."""
    import numpy as np
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    from viz_planted import purity

    driver = make_driver(tmp_path / "profile")
    try:
        driver.get(f"{planted_dashboard}/?page=Embedding+space")
        wait = WebDriverWait(driver, 120)
        wait.until(EC.presence_of_element_located(
            (By.XPATH, '//*[contains(text(), "Most similar pairs in the sample")]')))
        wait_idle(driver, wait)
        script = r"""
          for (const el of document.querySelectorAll('.js-plotly-plot')) {
            const t = (el.layout && el.layout.title && el.layout.title.text) || '';
            if (/ of 1000 of the \d+ sampled rows/.test(t))
              return el._fullData.map(d => ({name: d.name, x: Array.from(d.x), y: Array.from(d.y),
                                             color: Array.isArray(d.marker.color) ? Array.from(d.marker.color) : d.marker.color}));
          }
          return null;"""
        traces = WebDriverWait(driver, 60).until(lambda d: d.execute_script(script))
        points = [t for t in traces if len(t["x"]) > 1]
        legend = [t for t in traces if len(t["x"]) == 1]  # one empty legend entry per topic
        from saescope.viz.rundata import RunData

        assert len(points) == 1 and len(legend) == RunData(planted_run).data()[1]["topic"].nunique()
        colours = np.array(points[0]["color"])  # the colour each point is drawn in
        xs, ys = np.array(points[0]["x"]), np.array(points[0]["y"])
        assert len(xs) == 1000 and set(colours) == {t["color"] for t in legend}
        assert purity(xs, ys, colours) > 0.97
        save_screenshot(driver, artifacts, "dashboard-planted-map")
    finally:
        driver.quit()
