"""Keywords explainer and feature families on hand-made data."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from synth import TOPICS, corpus

from saescope.interpret.families import feature_families, similar_latents
from saescope.interpret.keywords import KeywordsConfig, KeywordsExplainer


def test_keywords_name_the_topic_and_are_deterministic():
    texts, topic = corpus(600)
    kw = KeywordsExplainer().fit(texts)
    docs = [np.flatnonzero(topic == k)[:20] for k in range(len(TOPICS))]
    labels, terms = kw.explain(docs)
    for k, t in enumerate(terms):
        assert 1 <= len(t) <= 4
        assert all(term.split()[0] in TOPICS[k] for term in t), (k, t)
        # Common words occur in every topic: they are never distinctive.
        assert not any(w in term for term in t for w in ("people", "often", "study"))
    labels2, _ = KeywordsExplainer().fit(texts).explain(docs)
    assert labels == labels2


def test_keywords_prefers_a_phrase_over_its_words():
    texts = ["black hole accretion disk"] * 8 + ["black cat", "hole in the road", "disk drive"] * 20
    kw = KeywordsExplainer(KeywordsConfig(n_terms=3)).fit(texts)
    _, (terms,) = kw.explain([np.arange(8)])
    assert "black hole" in terms and "black" not in terms and "hole" not in terms


def test_families_follow_co_occurrence_tree():
    # Latent 0 is dense and co-fires with 1 and 2; latent 3 co-fires with 4; 5 fires alone.
    rows = []
    for r in range(40):
        on = [0]
        if r < 10:
            on.append(1)
        elif r < 20:
            on.append(2)
        rows.append(on)
    for r in range(10):
        rows.append([3, 4] if r < 6 else [3])
    rows.append([5])
    data = [(i, j) for i, on in enumerate(rows) for j in on]
    r_, c_ = zip(*data, strict=True)
    codes = sp.csr_matrix((np.ones(len(data)), (r_, c_)), shape=(len(rows), 6))
    fam = feature_families(codes, min_weight=0.1)
    assert fam.tolist() == [0, 0, 0, 3, 3, 5]


def test_similar_latents_by_decoder_cosine():
    W = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.8, 0.2], [-1, 0, 0]], dtype=np.float32)
    sim = similar_latents(W, k=2)
    assert sim[0, 0] == 1 and sim[1, 0] == 0 and sim[2, 0] == 3 and sim[3, 0] == 2
    assert set(sim[4].tolist()) == {2, 3}  # orthogonal beats opposite (cosine -1)
    assert all(i not in s for i, s in enumerate(sim))


def _tweets(n: int = 240) -> tuple[list[str], np.ndarray]:
    """Short posts in two topics; every post of topic 1 carries a t.co link, a handle, a number and
    an HTML entity, as scraped tweets do (issue 28: `https t` and link codes won the scoreboard)."""
    rng = np.random.default_rng(0)
    a = ["tax plan cuts rates for families", "jobs report shows wages rising", "trade deal tariffs on steel"]
    b = ["rally crowd cheers the senator", "debate night moderator questions", "polls close early tonight"]
    texts, topic = [], []
    for i in range(n):
        k = i % 2
        base = (a if k == 0 else b)[rng.integers(3)]
        if k == 1:
            code = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 10))
            base = f"@newsdesk {base} &amp; more 2016 #vote https://t.co/{code} via user@mail.com"
        texts.append(base)
        topic.append(k)
    return texts, np.array(topic)


def test_keywords_leave_out_urls_handles_numbers_and_entities():
    texts, topic = _tweets()
    kw = KeywordsExplainer(KeywordsConfig(n_terms=6)).fit(texts)
    labels, terms = kw.explain([np.flatnonzero(topic == 1)[:40], np.flatnonzero(topic == 0)[:40]])
    vocab = set(kw.terms_)
    junk = {"https", "http", "co", "t", "amp", "newsdesk", "mail", "com", "user", "2016", "via user"}
    assert not junk & vocab, sorted(junk & vocab)
    words = {w for t in terms for term in t for w in term.split()}
    assert not any(len(w) < 2 or w.isdigit() or w in junk for w in words), terms
    codes = {t.split("t.co/")[1].split()[0] for t in texts if "t.co/" in t}
    assert not codes & vocab  # the link codes went with their URLs
    assert "vote" in vocab  # a hashtag keeps its word
    assert all("t.co" not in lab and "https" not in lab for lab in labels), labels
    assert terms[0] and terms[1]


def test_keywords_stop_words_file_and_web_only_labels(tmp_path):
    texts, topic = _tweets()
    stop = tmp_path / "stop.txt"
    stop.write_text("# campaign words\nVote\n\nrally\n", encoding="utf-8")
    kw = KeywordsExplainer(KeywordsConfig(stop_words=str(stop))).fit(texts)
    assert "vote" not in set(kw.terms_) and "rally" not in set(kw.terms_)
    # Texts made only of web pieces (as some scrapes leave them: `https t co`) give no label.
    junk = ["https t co", "amp https", "www https co"] * 10 + ["tax plan for families"] * 30
    kw = KeywordsExplainer().fit(junk)
    labels, terms = kw.explain([np.arange(30)])
    assert terms == [[]] and labels == ["(no distinctive terms)"]


def test_keywords_stop_words_file_missing_is_an_input_error(tmp_path):
    import pytest

    from saescope.errors import InputError

    with pytest.raises(InputError, match="stop-words .*nope.txt"):
        KeywordsExplainer(KeywordsConfig(stop_words=str(tmp_path / "nope.txt"))).fit(["a text here"])
