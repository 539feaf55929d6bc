"""Token-level interpretation: windows of context, marked tokens, token activations, disjoint
documents between explain and test."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from synth import COMMON, TOPICS, hash_embed

from saescope.errors import InputError
from saescope.interpret import InterpretConfig, interpret_vectors
from saescope.interpret.tokens import TokenWindows


def token_store(n_docs: int = 240, seed: int = 0):
    """Documents of 12 word tokens: common words with 3 words of one topic; latent k fires on
    exactly the tokens that are topic-k words (activation 1..3). Returns meta, codes, X."""
    rng = np.random.default_rng(seed)
    docs, pos, toks, fires = [], [], [], []
    for d in range(n_docs):
        topic = int(rng.integers(0, len(TOPICS)))
        words = list(rng.choice(COMMON, 9)) + list(rng.choice(TOPICS[topic], 3, replace=False))
        rng.shuffle(words)
        for p, w in enumerate(words, start=1):
            docs.append(f"doc{d}")
            pos.append(p)
            toks.append(" " + str(w))
            fires.append(topic if w in TOPICS[topic] else -1)
    fires_a = np.asarray(fires)
    rows = np.flatnonzero(fires_a >= 0)
    acts = (1 + 2 * rng.random(len(rows))).astype(np.float32)
    codes = sp.csr_matrix((acts, (rows, fires_a[rows])), shape=(len(toks), len(TOPICS)))
    meta = pa.table({"doc_id": docs, "position": pa.array(pos, pa.int32()), "token": toks})
    X = hash_embed([t for t in toks])
    return meta, codes, X


def test_windows_mark_the_token_and_stay_in_the_document() -> None:
    meta = pa.table({"doc_id": ["a", "a", "a", "b", "b"], "position": [1, 2, 3, 1, 2],
                     "token": [" The", " cat", " sat", " Hi", " there"]})
    w = TokenWindows.from_meta(meta, "m", before=1, after=1)
    assert w is not None
    assert w.text(1) == " The <<cat>> sat"
    assert w.text(2) == " cat <<sat>>"  # the window never crosses into the next document
    assert w.text(3, mark=False) == " Hi there"
    assert list(w.texts(mark=False, before=0, after=0)) == meta["token"].to_pylist()
    codes = sp.csr_matrix(np.array([[0, 0], [2, 0], [1, 0], [0, 5], [0, 0]], np.float32))
    toks, acts, centre = w.window_acts(codes, np.array([1, 3]), np.array([0, 1]))
    assert toks == [[" The", " cat", " sat"], [" Hi", " there"]]
    assert acts == [[0.0, 2.0, 1.0], [5.0, 0.0]] and centre == [1, 0]
    assert TokenWindows.from_meta(meta.drop(["token"]), "m") is None  # not a token store


def test_scattered_documents_are_refused() -> None:
    meta = pa.table({"doc_id": ["a", "b", "a"], "position": [1, 1, 2], "token": ["x", "y", "z"]})
    with pytest.raises(InputError, match="not contiguous"):
        TokenWindows.from_meta(meta, "m")


def test_token_level_run(tmp_path) -> None:
    meta, codes, X = token_store()
    windows = TokenWindows.from_meta(meta, "store", before=4, after=2)
    ids = [f"{d}:{p}" for d, p in zip(meta["doc_id"].to_pylist(), meta["position"].to_pylist(), strict=True)]
    cfg = InterpretConfig(token_window_before=4, token_window_after=2)
    interpret_vectors(None, X, ids, None, tmp_path / "o", cfg, progress=False, codes=codes,
                      embed=hash_embed, windows=windows)
    ex = pq.read_table(tmp_path / "o" / "examples.parquet").to_pandas()
    assert {"tokens", "token_acts"} <= set(ex.columns)
    doc = ex["id"].str.split(":").str[0]
    for lat in range(len(TOPICS)):
        e = ex[ex["latent"] == lat]
        # disjoint by document, not only by row
        assert not set(doc[e.index][e["split"] == "explain"]) & set(doc[e.index][e["split"] == "test"])
        top = e[e["kind"] == "top"]
        assert len(top) > 0
        for _, r in top.iterrows():
            assert "<<" in r["text"] and r["text"].split("<<")[1].split(">>")[0] in TOPICS[lat]
            assert r["activation"] in list(r["token_acts"])  # the example's own token is in its window
            assert "".join(r["tokens"]).replace(" ", "") == r["text"].replace("<<", "").replace(">>", "").replace(" ", "")
    lat_table = pq.read_table(tmp_path / "o" / "latents.parquet").to_pandas()
    for lat in range(len(TOPICS)):  # keywords from the firing token and its neighbours
        expl = str(lat_table.loc[lat_table["latent"] == lat, "explanation"].iloc[0])
        assert any(w in expl for w in TOPICS[lat]), (lat, expl)


def test_explainer_prompt_marks_the_firing_tokens() -> None:
    from saescope.interpret import prompts

    msgs = prompts.explain_messages([" a <<volcano>> erupted"], [" a quiet town"], marked=True)
    body = msgs[-1]["content"]
    assert "<<volcano>>" in body and "marked" in body and "<<like this>>" in body
    assert "marked" not in prompts.explain_messages(["a text"])[-1]["content"]


def test_token_level_llm_explainer_and_detection_over_http(tmp_path, fault_server, fast_backoff) -> None:
    """Over a real HTTP server that injects a fault into the first try of every request: the
    explainer reads the <<marked>> tokens; detection (Paulo et al. 2024) is asked about whole
    windows without the mark, and every non-activating window is silent on all its tokens, so a
    perfect detector scores 1.0 against a shuffled-explanation baseline near chance."""
    from saescope.interpret.scorers import ScorerConfig

    meta, codes, X = token_store(n_docs=160)
    windows = TokenWindows.from_meta(meta, "store", before=4, after=2)
    ids = [f"{d}:{p}" for d, p in zip(meta["doc_id"].to_pylist(), meta["position"].to_pylist(), strict=True)]
    asked: list[str] = []
    fault_server.retry_after, fault_server.hang_seconds = "0.05", 3.0  # a hang outlasts the 1 s timeout
    fault_server.answer_override = lambda user: asked.append(user)  # None: the oracle answers
    cfg = InterpretConfig(explainer="llm", scorers=("detection",), llm_base_url=fault_server.base_url,
                          llm_model="scripted", llm_timeout=1.0, cache_path=str(tmp_path / "c.sqlite"),
                          token_window_before=4, token_window_after=2, scoring=ScorerConfig(n_boot=100))
    interpret_vectors(None, X, ids, None, tmp_path / "o", cfg, progress=False, codes=codes,
                      windows=windows)
    assert set(fault_server.faults_sent) == {"429", "500", "hang", "malformed", "truncated"}
    explain_prompts = [u for u in asked if "marked" in u]
    detect_prompts = [u for u in asked if '"answers"' in u]
    assert explain_prompts and all("<<" in u for u in explain_prompts)
    assert detect_prompts and not any("<<" in u for u in detect_prompts)
    ex = pq.read_table(tmp_path / "o" / "examples.parquet").to_pandas()
    negatives = ex[(ex.split == "test") & ex.kind.str.endswith("negative")]
    assert len(negatives) > 0 and all(max(a) == 0 for a in negatives.token_acts)
    lat = pq.read_table(tmp_path / "o" / "latents.parquet").to_pandas()
    assert len(lat) == len(TOPICS)
    for _, r in lat.iterrows():
        assert r.explanation == " ".join(TOPICS[r.latent][:3])
        assert r.detection == 1.0 and r.detection_unparsed == 0 and r.detection_baseline < 0.7
    se = pq.read_table(tmp_path / "o" / "scored_examples.parquet").to_pandas()
    assert not se.text.str.contains("<<").any() and (se.prediction == se.activating.astype(float)).all()
    # a window's activation is the largest of its tokens' (the token's own stays in examples.parquet)
    test = ex[ex.split == "test"].merge(se, on=["latent", "id"], suffixes=("", "_scored"))
    assert len(test) == len(se)
    assert np.allclose(test.activation_scored, [max(a) for a in test.token_acts])
    assert (test.activation_scored >= test.activation).all()
    assert (test.activation_scored > test.activation).any()


def test_window_max_and_quiet() -> None:
    meta = pa.table({"doc_id": ["a"] * 4 + ["b"] * 2, "position": [1, 2, 3, 4, 1, 2],
                     "token": list("wxyzuv")})
    w = TokenWindows.from_meta(meta, "m", before=1, after=1)
    codes = sp.csr_matrix(np.array([[0, 0], [0, 0], [0, 3], [2, 0], [0, 0], [0, 0]], np.float32))
    rows, lats = np.array([0, 1, 2, 3, 4, 5, 0]), np.array([0, 1, 0, 1, 1, 0, 1])
    assert w.window_max(codes, rows, lats).tolist() == [0, 3, 2, 3, 0, 0, 0]
    assert w.quiet(codes)(np.array([0, 0]), np.array([0, 2])).tolist() == [True, False]


@pytest.mark.parametrize(("answer", "expected"), [
    # what SmolLM2-135M answered to the token-level prompt over `transformers serve`
    ("The marked tokens share a common thread of a message that is a reference to a service. In each",
     "a message that is a reference to a service"),
    ("The marked tokens share a common trait of being a form of targeted advertising. This is",
     "being a form of targeted advertising"),
    ("The marked tokens share a common thread: they are quotes from texts. These quotes",
     "they are quotes from texts"),
    ("The marked tokens share a common thread of <<the structure>> and <<the content>>. They are",
     "the structure and the content"),
])
def test_token_level_answers_lose_the_prompt_echo(answer: str, expected: str) -> None:
    from saescope.interpret.prompts import parse_explanation

    assert parse_explanation(answer) == expected
