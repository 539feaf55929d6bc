"""Screenshots of the dashboard for the docs: a feature page, the embedding map, the curation page.

Starts `saescope dashboard RUN_DIR` on a free local port, opens each page in headless Chromium
(Debian's `chromium` + `chromium-driver`) and writes PNGs next to this file:

    python docs/screenshots/take_screenshots.py runs/demo-quick [--latent N]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def driver_for(width: int, height: int):  # noqa: ANN201
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "chromium"
    for f in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--window-size={width},{height}", "--hide-scrollbars"):
        opts.add_argument(f)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def settle(driver, marker: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 300)
    wait.until(lambda d: marker in d.find_element(By.TAG_NAME, "body").text)
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    time.sleep(2)  # plotly's last draw


def shoot(url: str, latent: int) -> None:
    from selenium.webdriver.common.by import By

    d = driver_for(1400, 2600)
    try:
        d.get(f"{url}/?page=Features&latent={latent}")
        settle(d, "Similar latents by decoder cosine")
        d.save_screenshot(str(HERE / "feature-page.png"))
        d.get(f"{url}/?page=Embedding+space")
        settle(d, "Most similar pairs in the sample")
        head = d.find_element(By.XPATH, '//h3[contains(., "2-D map")]')
        d.execute_script("arguments[0].scrollIntoView()", head)
        time.sleep(1)
        d.save_screenshot(str(HERE / "embedding-map.png"))
        d.get(f"{url}/?page=Curation")
        settle(d, "Selection (")
        d.save_screenshot(str(HERE / "curation-page.png"))
    finally:
        d.quit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--latent", type=int, default=None, help="Latent to show (default: the best).")
    args = ap.parse_args()
    latent = args.latent
    if latent is None:
        from saescope.viz.report import primary_order
        from saescope.viz.rundata import RunData

        run = RunData(args.run_dir)
        latent = int(primary_order(run, run.latent_table())["latent"].iloc[0])
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "saescope.cli.main", "dashboard",
                             str(args.run_dir), "--port", str(port)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                time.sleep(0.5)
        shoot(url, latent)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    print(f"wrote feature-page.png (latent {latent}), embedding-map.png, curation-page.png to {HERE}")


if __name__ == "__main__":
    main()
