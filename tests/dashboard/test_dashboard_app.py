"""Each dashboard page through Streamlit's AppTest on a small real run folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from saescope.viz.rundata import RunData

APP = str(Path(__file__).resolve().parents[2] / "src" / "saescope" / "dashboard" / "app.py")


def open_page(run_dir: Path, page: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("SAESCOPE_RUN_DIR", str(run_dir))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["page"] = page
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.radio(key="page").value == page
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def frame_with(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_overview(sample_run: Path, monkeypatch: pytest.MonkeyPatch):
    at = open_page(sample_run, "Overview", monkeypatch)
    assert at.header[0].value == "Run overview"
    run = RunData(sample_run)
    assert metric(at, "latents") == str(run.sae_cfg()["num_latents"])
    assert metric(at, "FVU") == f"{run.train_metrics()['fvu']:.4g}"
    assert not at.warning  # nothing missing in a full run
    assert len(at.get("plotly_chart")) >= 3  # fvu, l0, dead fraction (+ firing histogram)


def test_embedding_space_and_kmeans_slider(sample_run: Path, monkeypatch: pytest.MonkeyPatch):
    at = open_page(sample_run, "Embedding space", monkeypatch)
    X, _ = RunData(sample_run).data()
    assert metric(at, "rows") == f"{len(X):,}"
    assert metric(at, "dimensions") == str(X.shape[1])
    from saescope.viz.analysis import pca_spectrum

    assert metric(at, "PCA comps for 95% var.") == str(pca_spectrum(X)[1])
    color = at.selectbox(key="map-color")
    assert color.value == "domain" and {"norm", "cluster"} <= set(color.options)
    # The k-means slider really changes the clustering shown.
    for k in (3, 5):
        at.slider(key="kmeans-k").set_value(k).run()
        assert not at.exception
        assert any(f"k-means with k = {k}: {k} clusters" in m.value for m in at.markdown)
        sizes = frame_with(at, "rows")
        assert len(sizes) == k and sizes["rows"].sum() == len(X)
    pairs = frame_with(at, "cosine")
    assert len(pairs) == 20 and np.all(np.diff(pairs["cosine"].to_numpy()) <= 1e-6)
    assert any(b.label == "Download the sample (CSV)" for b in at.get("download_button"))


def test_feature_browser_search_and_latent_page(sample_run: Path, monkeypatch: pytest.MonkeyPatch):
    at = open_page(sample_run, "Features", monkeypatch)
    lat = RunData(sample_run).latents()
    word = lat.loc[lat["status"] == "ok", "explanation"].iloc[0].split(",")[0].strip()
    at.text_input(key="feature-query").input(word).run()
    expected = lat["explanation"].fillna("").str.contains(word, case=False, regex=False).sum()
    assert any(c.value == f"{expected:,} of {len(lat):,} latents" for c in at.caption)
    first = int(at.selectbox(key="latent-pick").value)
    assert word.lower() in lat.set_index("latent").loc[first, "explanation"].lower()
    # Jump to a given latent: its page shows examples, scores and similar latents.
    target = int(lat.loc[lat["status"] == "ok", "latent"].iloc[-1])
    at.text_input(key="latent-jump").input(str(target)).run()
    assert not at.exception
    assert at.subheader[0].value.startswith(f"Latent {target}:")
    scores = frame_with(at, "95% CI low")
    row = lat.set_index("latent").loc[target]
    assert scores["score"].iloc[0] == pytest.approx(row["embedding"])
    similar = frame_with(at, "cosine")
    assert len(similar) == 10 and target not in similar["latent"].tolist()
    top = frame_with(at, "activation")
    assert (top["activation"] > 0).all()


def test_try_your_text(sample_run: Path, monkeypatch: pytest.MonkeyPatch):
    import torch

    from saescope.data.embed import Embedder

    at = open_page(sample_run, "Try your text", monkeypatch)
    text = "What is the derivative of x squared with respect to x?"
    at.text_area(key="try-text").input(text).run()
    assert not at.exception
    res = frame_with(at, "activation")
    sae = RunData(sample_run).sae()
    with torch.no_grad():
        out = sae.encode(torch.from_numpy(Embedder("minilm", device="cpu").encode([text])))
    expected = set(out.top_indices[0][out.top_acts[0] > 0].tolist())
    assert set(res["latent"].tolist()) == expected
    assert "explanation" in res.columns and res["activation"].is_monotonic_decreasing


def test_curation_page(sample_run: Path, monkeypatch: pytest.MonkeyPatch):
    at = open_page(sample_run, "Curation", monkeypatch)
    metrics = frame_with(at, "space")
    assert {"sae", "embedding (baseline)", "random (baseline)"} <= set(metrics["space"])
    run = RunData(sample_run)
    n_seeds = int((run.projection()["role"] == "seed").sum())
    assert any(s.value == f"Seeds ({n_seeds})" for s in at.subheader)
    labels = {b.label for b in at.get("download_button")}
    assert {"Download selection (CSV)", "Download selection (Parquet)"} <= labels


def test_pages_name_what_a_single_stage_output_lacks(sample_run: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    interp = tmp_path / "interp"
    shutil.copytree(sample_run / "interpret", interp)
    for page, needs in (("Embedding space", "data/embeddings.parquet"), ("Try your text", "SAE"),
                        ("Curation", "curate output")):
        at = open_page(interp, page, monkeypatch)
        assert any(needs in i.value for i in at.info), page
    at = open_page(interp, "Features", monkeypatch)  # works from latents.parquet alone
    assert at.subheader and at.subheader[0].value.startswith("Latent ")


def test_launcher_binds_localhost_and_checks_input(sample_run: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]):
    from saescope.cli.main import main
    from saescope.dashboard.launch import dashboard_command
    from saescope.errors import ConfigError

    cmd = dashboard_command(sample_run, port=8765)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8765"
    assert cmd[-1] == str(sample_run.resolve())
    with pytest.raises(ConfigError, match="port"):
        dashboard_command(sample_run, port=70000)
    with pytest.raises(SystemExit) as exc:  # an empty folder fails before Streamlit starts
        main(["dashboard", str(tmp_path)])
    assert exc.value.code == 2 and "no run artifacts" in capsys.readouterr().err
