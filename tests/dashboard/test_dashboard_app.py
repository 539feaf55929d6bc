"""Each dashboard page through Streamlit's AppTest on a small real run folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from saescope.safetext import markdown_text
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


def latent_ids(links) -> list[int]:  # noqa: ANN001
    """Latent ids from a column of latent-page links (`?page=Features&latent=N`)."""
    return [int(str(u).rsplit("latent=", 1)[1]) for u in links]


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
    at.text_input(key="latent").input(str(target)).run()
    assert not at.exception
    assert at.subheader[0].value.startswith(f"Latent {target}:")
    scores = frame_with(at, "95% bootstrap interval")
    row = lat.set_index("latent").loc[target]
    assert scores["score"].iloc[0] == pytest.approx(row["embedding"])
    similar = frame_with(at, "decoder cosine")
    assert len(similar) == 10 and target not in latent_ids(similar["latent"])
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
    assert set(latent_ids(res["latent"])) == expected
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


def plotly_array(v) -> np.ndarray:  # noqa: ANN001
    """A plotly JSON array: a list, or {"dtype", "bdata"} (base64, plotly >= 6)."""
    import base64

    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v)


def map_traces(at: AppTest) -> list[dict]:
    """The traces of a plotly chart as drawn (name = colour group, x, y, hover data)."""
    import json

    chart = next(c for c in at.get("plotly_chart")
                 if json.loads(c.proto.spec).get("layout", {}).get("title", {}).get("text", "")
                 .startswith(("PCA of", "t-SNE of", "UMAP of")))
    return json.loads(chart.proto.spec)["data"]


def test_map_colours_are_pure_on_planted_clusters(planted_run: Path, monkeypatch: pytest.MonkeyPatch):
    """Issue 12, item 1: coordinates and colours of a map point come from the same row."""
    from viz_planted import purity

    at = open_page(planted_run, "Embedding space", monkeypatch)
    at.selectbox(key="map-method").set_value("PCA").run()
    assert at.selectbox(key="map-color").value == "topic"
    _, meta = RunData(planted_run).data()
    topic_of = dict(zip(meta["id"], meta["topic"], strict=True))
    traces = map_traces(at)
    points = [t for t in traces if len(t.get("customdata", [])) > 0]
    assert len(points) == 1  # one trace in a shuffled order: no topic painted over another
    legend = {t["name"].split(" (")[0]: t["marker"]["color"] for t in traces if t is not points[0]}
    assert sorted(legend) == sorted(meta["topic"].unique())
    assert len(set(legend.values())) == len(legend)  # a colour per topic
    hover = [c[0] for c in points[0]["customdata"]]  # hover data: id, label, text
    assert [c[1] for c in points[0]["customdata"]] == [topic_of[i] for i in hover]
    colours = points[0]["marker"]["color"]
    assert colours == [legend[topic_of[i]] for i in hover]  # every point its own row's colour
    names = [topic_of[i] for i in hover]
    assert names != sorted(names)  # interleaved, not drawn one topic after another
    xs, ys = list(plotly_array(points[0]["x"])), list(plotly_array(points[0]["y"]))
    assert len(hover) == 1000  # more rows than the map draws: the bug class needs a sub-sample
    # A point's coordinates are its own row's: PCA is affine in the row's vector.
    X, _ = RunData(planted_run).data()
    row_of = {i: r for r, i in enumerate(meta["id"])}
    A = np.column_stack([X[[row_of[i] for i in hover]], np.ones(len(hover))])
    xy = np.column_stack([xs, ys])
    resid = xy - A @ np.linalg.lstsq(A, xy, rcond=None)[0]
    assert (resid**2).sum() / ((xy - xy.mean(0)) ** 2).sum() < 1e-6
    # And the colours are pure in the picture: a point's map neighbours share its colour.
    assert purity(np.array(xs), np.array(ys), np.array(names)) > 0.97


def test_latent_page_has_its_own_address(sample_run: Path, monkeypatch: pytest.MonkeyPatch):
    """?page=Features&latent=N opens latent N's page with its feature-page sections."""
    lat = RunData(sample_run).latents()
    target = int(lat.loc[lat["status"] == "ok", "latent"].iloc[3])
    monkeypatch.setenv("SAESCOPE_RUN_DIR", str(sample_run))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["page"] = "Features"
    at.query_params["latent"] = str(target)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.subheader[0].value.startswith(f"Latent {target}:")
    text = " ".join(m.value for m in at.markdown)
    for section in ("Top activating examples", "Random texts where it does not fire",
                    "Similar latents by decoder cosine", "Label breakdown of the top examples"):
        assert section in text, section
    scores = frame_with(at, "95% bootstrap interval")
    assert "AUROC" in scores["scorer"].iloc[0] and "another latent" in scores["baseline is"].iloc[0]
    breakdown = frame_with(at, "share of all rows")
    ex = RunData(sample_run).examples()
    n_top = int(((ex["latent"] == target) & (ex["kind"] == "top")).sum())
    assert breakdown["top examples"].sum() == n_top
    co = frame_with(at, "co-activation weight")
    assert target not in latent_ids(co["latent"]) and (co["co-activation weight"] <= 1).all()
    hist = next(c for c in at.get("plotly_chart") if "activation histogram" in c.proto.spec)
    import json

    layout = json.loads(hist.proto.spec)["layout"]
    assert layout["xaxis"]["title"]["text"] == "activation" and layout["yaxis"]["title"]["text"] == "rows"


def test_curation_page_links_why_chosen_latents(sample_run: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch):
    import json

    import pandas as pd

    run = tmp_path / "run"
    shutil.copytree(sample_run, run, ignore=shutil.ignore_patterns("data"))
    sel = pd.read_parquet(run / "curate" / "selected.parquet")
    sel["top_latents"] = [[4, 9]] * len(sel)
    sel.to_parquet(run / "curate" / "selected.parquet", index=False)
    man = json.loads((run / "curate" / "manifest.json").read_text())
    man["space_info"] = {"top_latents": [{"latent": 6, "weight": 1.2}]}
    (run / "curate" / "manifest.json").write_text(json.dumps(man))
    at = open_page(run, "Curation", monkeypatch)
    enriched = frame_with(at, "weight")
    assert latent_ids(enriched["latent"]) == [6]
    rows = frame_with(at, "top latent")
    assert set(latent_ids(rows["top latent"])) == {4} and rows["top_latents"].iloc[0] == "4, 9"


def test_dashboard_on_outputs_given_apart(sample_run: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch):
    """`saescope dashboard --data --sae --interpret --curate` (the README's own-data line): the
    launcher's environment makes a complete run of outputs that live side by side."""
    import json

    for src, dst in (("sae", "sae"), ("interpret", "interp"), ("curate", "picked")):
        shutil.copytree(sample_run / src, tmp_path / dst)
    shutil.copy(sample_run / "data" / "embeddings.parquet", tmp_path / "emb.parquet")
    monkeypatch.setenv("SAESCOPE_RUN_DIR", "")
    monkeypatch.setenv("SAESCOPE_RUN_PARTS", json.dumps({
        "data": str(tmp_path / "emb.parquet"), "sae": str(tmp_path / "sae"),
        "interpret": str(tmp_path / "interp"), "curate": str(tmp_path / "picked")}))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["page"] = "Overview"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning  # nothing missing
    stages = at.table[0].value
    # st.table renders Markdown: the path is shown escaped (safetext.markdown_text), i.e. as written
    assert dict(zip(stages["stage"], stages["path"], strict=True))["curate"] == markdown_text(tmp_path / "picked")


def test_hypotheses_page_reads_a_folder_outside_the_run(sample_run: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    """`saescope dashboard RUN --hypotheses hyp` (issue 28: the README writes `--out hyp`, and the
    page only looked for RUN/hypotheses); its forest plot is labelled by latent and explanation."""
    import json

    import pandas as pd

    hyp = tmp_path / "hyp"
    hyp.mkdir()
    pd.DataFrame({"latent": [5, 2], "effect": [0.4, 0.1], "ci_low": [0.3, 0.0], "ci_high": [0.5, 0.2],
                  "p": [2.3e-8, 0.04], "q": [4.6e-8, 0.04], "significant": [True, True],
                  "purity": [0.9, 0.6], "n_fires_test": [50, 30], "explanation": ["crooked hillary", "unfit"],
                  }).to_parquet(hyp / "hypotheses.parquet")
    (hyp / "manifest.json").write_text(json.dumps({"n_tested": 2, "n_significant": 2, "fdr": 0.05}))
    assert not (sample_run / "hypotheses").exists()
    monkeypatch.setenv("SAESCOPE_RUN_PARTS", json.dumps({"hypotheses": str(hyp)}))
    at = open_page(sample_run, "Hypotheses", monkeypatch)
    assert any("2 of 2 tested latents significant" in m.value for m in at.markdown)
    frame = frame_with(at, "q")
    assert frame["p"].tolist() == ["2.3e-08", "0.04"]
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["yaxis"]["type"] == "category"
    assert chart["data"][0]["y"] == ["latent 5: crooked hillary", "latent 2: unfit"]


def test_overview_dead_count_is_metrics_json(sample_run: Path, monkeypatch: pytest.MonkeyPatch):
    at = open_page(sample_run, "Overview", monkeypatch)
    words = RunData(sample_run).dead_words()
    assert words and any(c.value == words for c in at.caption)
    assert not any("validation split" in c.value for c in at.caption)


def _title(chart) -> str:  # noqa: ANN001
    import json

    return json.loads(chart.proto.spec).get("layout", {}).get("title", {}).get("text", "")


def test_map_draws_as_many_rows_as_its_slider_says(planted_run: Path, monkeypatch: pytest.MonkeyPatch):
    """Issue 28: the map drew 1,000 rows while the page's slider said 2,000."""
    import json

    at = open_page(planted_run, "Embedding space", monkeypatch)
    at.selectbox(key="map-method").set_value("PCA").run()
    n = at.select_slider(key="map-n")
    sampled = min(len(RunData(planted_run).data()[0]), 2000)  # the rows slider's default
    for want in (500, sampled):
        n.set_value(want).run()
        assert not at.exception
        traces = map_traces(at)
        assert sum(len(t.get("customdata", [])) for t in traces) == want
        titles = [_title(c) for c in at.get("plotly_chart")]
        assert f"PCA of {want} of the {sampled} sampled rows, coloured by topic" in titles, titles
    scree = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                 if any(t.get("name") == "cumulative" for t in json.loads(c.proto.spec)["data"]))
    assert scree["layout"]["legend"]["orientation"] == "h"  # not over the right axis' labels


def test_curation_label_map_is_one_shuffled_trace(sample_run: Path, monkeypatch: pytest.MonkeyPatch):
    import json

    at = open_page(sample_run, "Curation", monkeypatch)
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "by label" in _title(c))
    points = [t for t in spec["data"] if len(t.get("customdata", [])) > 0]
    assert len(points) == 1  # one trace: no label painted over another as a block
    labels = [c[1] for c in points[0]["customdata"]]
    proj = RunData(sample_run).projection()
    assert sorted(labels) == sorted(proj["label"].astype(str))
    assert labels != sorted(labels)  # interleaved, not grouped by label
    role = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "gold stars" in _title(c))
    names = [t["name"] for t in role["data"]]
    assert names[-1] == "seed" and role["data"][-1]["marker"]["size"] >= 12  # drawn last, big


def test_map_gives_rare_labels_one_grey_group():
    """A label column with more values than distinct colours: the most frequent keep theirs, the
    rest are one grey group listed first (colours used to repeat past 18 labels)."""
    import pandas as pd

    from saescope.dashboard.widgets import OTHER_COLOR, label_map, map_categories

    values = pd.Series([f"l{i:02d}" for i in range(40) for _ in range(40 - i)])
    shown, palette = map_categories(values)
    assert len(palette) == 18 and list(palette)[0] == "other (23 labels)"
    assert palette["other (23 labels)"] == OTHER_COLOR
    assert set(palette) - {"other (23 labels)"} == {f"l{i:02d}" for i in range(17)}
    assert len(set(palette.values())) == 18
    assert (shown == "other (23 labels)").sum() == sum(40 - i for i in range(17, 40))
    frame = pd.DataFrame({"id": range(len(values)), "x": 0.0, "y": 0.0, "topic": values})
    fig = label_map(frame, "topic", "t")
    assert len(fig.data) == 19 and fig.data[1].name == "other (23 labels) (276)"
    few = map_categories(pd.Series(["b", "a", "b"]))
    assert list(few[1]) == ["a", "b"] and list(few[0]) == ["b", "a", "b"]
