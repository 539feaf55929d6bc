"""Neuronpedia batch JSON: field names and types of the published schema, values from the codes."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from saescope.errors import InputError
from saescope.interop.neuronpedia import HIST_BINS, NeuronpediaConfig, export_neuronpedia

# Field -> type of SAEDashboard's NeuronpediaDashboardFeature / Activation (sae-dashboard 0.8.0,
# sae_dashboard/neuronpedia/neuronpedia_dashboard.py), every one of which Neuronpedia's
# convert-saedashboard-to-neuronpedia-export.py (hijohnnylin/neuronpedia, utils/neuronpedia-utils)
# reads by name into its Feature / Activation rows (db_models/feature.py, activation.py).
FEATURE_FIELDS = {
    "feature_index": int, "neuron_alignment_indices": [int], "neuron_alignment_values": [float],
    "neuron_alignment_l1": [float], "correlated_neurons_indices": [int],
    "correlated_neurons_l1": [float], "correlated_neurons_pearson": [float],
    "correlated_features_indices": [int], "correlated_features_l1": [float],
    "correlated_features_pearson": [float], "neg_str": [str], "neg_values": [float],
    "pos_str": [str], "pos_values": [float], "frac_nonzero": float,
    "freq_hist_data_bar_values": [float], "freq_hist_data_bar_heights": [float],
    "logits_hist_data_bar_heights": [float], "logits_hist_data_bar_values": [float],
    "n_prompts_total": int, "n_tokens_in_prompt": int, "dataset": str, "activations": list,
    "decoder_weights_dist": [float], "vector": [float],
}
ACTIVATION_FIELDS = {"bin_min": float, "bin_max": float, "bin_contains": float, "tokens": [str],
                     "values": [float], "qualifying_token_index": int}
BATCH_FIELDS = {"model_id": str, "layer": int, "sae_set": str, "features": list}
EXPLANATION_FIELDS = {"modelId": str, "layer": str, "index": str, "description": str,
                      "typeName": str, "explanationModelName": str, "notes": str}


def _check(obj, fields, where):
    assert set(fields) <= set(obj), f"{where}: missing {set(fields) - set(obj)}"
    for name, typ in fields.items():
        v = obj[name]
        if isinstance(typ, list):
            assert isinstance(v, list), f"{where}.{name} is {type(v)}"
            assert all(isinstance(x, typ[0]) and not isinstance(x, bool) for x in v), f"{where}.{name}"
        else:
            assert isinstance(v, typ) and not isinstance(v, bool), f"{where}.{name} is {type(v)}"


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("np") / "dash"
    cfg = NeuronpediaConfig(model_id="all-MiniLM-L6-v2", sae_set="demo", features_per_batch=10)
    stats = export_neuronpedia(tiny_run, out, cfg)
    return out, stats


def test_batches_follow_the_schema(exported, tiny_run):
    out, stats = exported
    latents = pq.read_table(tiny_run / "interpret" / "latents.parquet").to_pandas()
    assert stats["features"] == len(latents) == 24 and stats["batches"] == 3
    feats = []
    for b in range(3):
        batch = json.loads((out / f"batch-{b}.json").read_text())
        _check(batch, BATCH_FIELDS, f"batch-{b}")
        assert batch["sae_id_suffix"] is None
        for f in batch["features"]:
            _check(f, FEATURE_FIELDS, f"feature {f['feature_index']}")
            for a in f["activations"]:
                _check(a, ACTIVATION_FIELDS, f"feature {f['feature_index']} activation")
            feats.append(f)
    assert [f["feature_index"] for f in feats] == latents.latent.tolist()
    lines = (out / "explanations.jsonl").read_text().splitlines()
    assert len(lines) == latents.explanation.notna().sum() > 0
    for line in lines:
        row = json.loads(line)
        _check(row, EXPLANATION_FIELDS, "explanation")
        assert row["layer"] == "0-demo" and row["modelId"] == "all-MiniLM-L6-v2"


def test_values_come_from_the_codes(exported, tiny_run):
    from saescope.data.vectors import read_vectors
    from saescope.sae.encode import encode_csr
    from saescope.sae.model import SparseAutoencoder

    out, _ = exported
    sae = SparseAutoencoder.load(tiny_run / "sae")
    vt = read_vectors(tiny_run / "data" / "embeddings.parquet")
    A = encode_csr(sae, vt.X).toarray()
    feats = [f for b in range(3) for f in json.loads((out / f"batch-{b}.json").read_text())["features"]]
    live = [f for f in feats if f["frac_nonzero"] > 0]
    assert live
    for f in live:
        col = A[:, f["feature_index"]]
        assert f["frac_nonzero"] == pytest.approx((col > 0).mean())
        assert sum(f["freq_hist_data_bar_heights"]) == (col > 0).sum()
        assert len(f["freq_hist_data_bar_heights"]) == HIST_BINS
        top = [a for a in f["activations"] if a["bin_contains"] == -1]
        assert top and top[0]["values"][0] == pytest.approx(col.max(), abs=1e-3)
        assert top[0]["tokens"][0] in vt.meta["text"].to_pylist()
        for a in f["activations"]:
            if a["bin_contains"] != -1:
                assert a["bin_min"] - 1e-3 <= a["values"][0] <= a["bin_max"] + 1e-3
        j = f["correlated_features_indices"][0]
        assert j != f["feature_index"]
        assert f["correlated_features_pearson"][0] == pytest.approx(
            np.corrcoef(col, A[:, j])[0, 1], abs=1e-3)
        w = sae.W_dec[f["feature_index"]].numpy()
        assert f["neuron_alignment_indices"][0] == int(np.argmax(w))


def test_real_sae_dashboard_classes_read_the_batches(exported):
    mod = pytest.importorskip("sae_dashboard.neuronpedia.neuronpedia_dashboard",
                              reason="sae-dashboard not installed (pip install --no-deps sae-dashboard)")
    out, _ = exported
    raw = json.loads((out / "batch-0.json").read_text())
    batch = mod.NeuronpediaDashboardBatch(**raw)  # a field it does not know would raise TypeError
    assert batch.to_dict() == raw


def test_needs_sae_and_data(tiny_run, tmp_path):
    with pytest.raises(InputError, match="needs the SAE"):
        export_neuronpedia(tiny_run / "interpret", tmp_path / "o")
