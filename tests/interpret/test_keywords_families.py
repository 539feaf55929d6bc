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
