"""What a feature page computes (saescope.viz.latent_page), on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from saescope.viz import latent_page as lp
from saescope.viz.analysis import coactivation_top


def test_scores_in_words_name_scorer_interval_and_baseline():
    row = pd.Series({"embedding": 0.8, "embedding_lo": 0.7, "embedding_hi": 0.9,
                     "embedding_baseline": 0.5, "intruder": 0.6, "intruder_lo": 0.5,
                     "intruder_hi": 0.7, "intruder_baseline": 0.25})
    df = lp.scores_in_words(["embedding", "intruder"], row)
    assert df["scorer"].iloc[0].startswith("embedding AUROC")
    assert df["95% bootstrap interval"].tolist() == ["[0.700, 0.900]", "[0.500, 0.700]"]
    assert df["baseline is"].iloc[0] == "the same scorer with another latent's explanation"
    assert df["baseline is"].iloc[1].startswith("chance rate")


def test_label_breakdown_counts_top_examples_against_base_rate():
    meta = pd.DataFrame({"id": [str(i) for i in range(10)], "topic": ["a"] * 8 + ["b"] * 2})
    lb = lp.label_breakdown(pd.Series(["8", "9", "0"]), meta, "topic")
    got = dict(zip(lb["topic"], lb["top examples"], strict=True))
    assert got == {"b": 2, "a": 1}
    assert dict(zip(lb["topic"], lb["share of all rows"], strict=True)) == {"b": 0.2, "a": 0.8}


def test_coactivation_weight_is_shared_firing_over_the_rarer_latent():
    # latent 0 fires on rows 0-3, latent 1 on rows 0-1, latent 2 on row 3, latent 3 never with 0
    dense = np.zeros((6, 4))
    dense[0:4, 0] = 1
    dense[0:2, 1] = 1
    dense[3, 2] = 1
    dense[4:6, 3] = 1
    codes = sp.csr_matrix(dense)
    df = lp.coactivation_neighbours(codes, 0)
    assert df["latent"].tolist() == [1, 2]  # 3 never fires with 0
    assert df["co-activation weight"].tolist() == [1.0, 1.0]  # 2/min(4,2), 1/min(4,1)
    ids, w = coactivation_top(codes, 2)
    assert ids[0].tolist() == [1, 2] and ids[3].tolist() == [-1, -1]
    np.testing.assert_allclose(w[1], [1.0, 0.0])


def test_token_highlights_only_where_examples_carry_tokens():
    ex = pd.DataFrame({"latent": [0, 0], "kind": ["top", "top"], "activation": [2.0, 1.0],
                       "id": ["a", "b"], "text": ["x y", "z"]})
    assert lp.token_highlights(ex) == []
    ex["tokens"] = [["x", " y"], ["z"]]
    ex["token_acts"] = [[0.0, 2.0], [1.0]]
    assert lp.token_highlights(ex) == [[("x", 0.0), (" y", 2.0)], [("z", 1.0)]]


def test_family_members_root_first():
    table = pd.DataFrame({"latent": [0, 1, 2, 3], "family": [1, 1, 1, 3],
                          "density": [0.5, 0.1, 0.3, 0.2], "explanation": list("abcd")})
    fam = lp.family_members(table, table.iloc[0])
    assert fam["latent"].tolist() == [1, 0, 2]


def test_other_explanations_from_a_second_interpret_output():
    llm = pd.DataFrame({"latent": [0, 1], "explainer": ["llm", "llm"],
                        "explanation": ["questions about planets", "baking"],
                        "detection": [0.8, 0.6], "detection_lo": [0.7, 0.5],
                        "detection_hi": [0.9, 0.7], "detection_baseline": [0.5, 0.5]})
    df = lp.other_explanations({"interpret-llm": llm}, 0)
    assert df["explanation"].tolist() == ["questions about planets"]
    assert df["scores"].iloc[0] == "detection balanced accuracy 0.800 [0.700, 0.900], baseline 0.500"
    assert lp.other_explanations({"interpret-llm": llm}, 7) is None
