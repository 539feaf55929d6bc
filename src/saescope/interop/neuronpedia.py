"""Feature dashboards as the batch JSON files that Neuronpedia's upload pipeline takes.

Format: the `batch-N.json` files of SAEDashboard's `NeuronpediaRunner` (`sae-dashboard` 0.8.0,
`sae_dashboard/neuronpedia/neuronpedia_dashboard.py`: `NeuronpediaDashboardBatch` /
`NeuronpediaDashboardFeature` / `NeuronpediaDashboardActivation`), the input of Neuronpedia's
`utils/neuronpedia-utils/neuronpedia_utils/convert-saedashboard-to-neuronpedia-export.py`
(hijohnnylin/neuronpedia), which reads every feature field used here by name and turns it into
its database rows (`db_models/feature.py`, `db_models/activation.py`). Explanations, which the
batch format has no field for, go to `explanations.jsonl` with the fields of Neuronpedia's
`db_models/explanation.py` (`modelId`, `layer`, `index`, `description`, `typeName`,
`explanationModelName`, `notes`).

What each field holds for an SAE over document embeddings (one vector per text, so every
"prompt" is one position: `tokens` is `[text]`, `values` is `[activation]`; a token-level
interpretation, whose `examples.parquet` carries `tokens` / `token_acts` / `token_index`, gives
each prompt its real window of tokens, the latent's activation on each, and
`qualifying_token_index` = the example's own token):

- `frac_nonzero`: fraction of the rows on which the latent fires;
- `freq_hist_data_bar_heights` / `_values`: histogram (counts / bin centres, `HIST_BINS` equal
  bins) of its non-zero activations over all rows;
- `activations`: the top examples (`bin_min` -1, `bin_max` the largest activation,
  `bin_contains` -1, as SAEDashboard marks them), then the activation-quantile examples with
  the bounds of their bin (`n_quantiles` equal-count bins of the non-zero activations) and
  `bin_contains` = the fraction of firings inside it;
- `neuron_alignment_*`: the largest coordinates of the decoder row, and their share of its L1
  norm (SAEDashboard's definition);
- `correlated_features_*`: the latents whose activations over the rows correlate most
  (Pearson) with this one, and (`_l1`, as SAEDashboard fills it) the cosine similarity of
  the activation columns;
- logit tables and histograms, `decoder_weights_dist` and `correlated_neurons_*`: empty (no
  vocabulary or attention heads behind an embedding).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp

from saescope.errors import InputError
from saescope.io import atomic_path

HIST_BINS = 40
"""Bins of the activation histogram."""


@dataclass
class NeuronpediaConfig:
    """Names Neuronpedia files the dashboards under, and how much goes in each."""

    model_id: str = "saescope"
    """Neuronpedia model id (e.g. the embedding model's name)."""
    layer: int = 0
    """Layer number (the source id is `{layer}-{sae_set}`)."""
    sae_set: str = "saescope"
    """Neuronpedia source set name."""
    dataset: str = ""
    """Where the rows came from (shown on the dashboards)."""
    features_per_batch: int = 128
    """Latents per `batch-N.json`."""
    n_top: int = 10
    """Top examples per latent."""
    n_quantiles: int = 10
    """Equal-count activation bins for the quantile examples."""
    n_correlated: int = 5
    """Correlated latents listed per latent."""
    n_alignment: int = 3
    """Decoder coordinates listed per latent."""


def _r(x: float) -> float:
    return round(float(x), 4)


def _hist(vals: np.ndarray) -> tuple[list[float], list[float]]:
    if len(vals) == 0:
        return [], []
    counts, edges = np.histogram(vals, bins=HIST_BINS)
    return [float(c) for c in counts], [_r(v) for v in (edges[:-1] + edges[1:]) / 2]


def _correlations(codes: sp.csc_matrix, latents: np.ndarray, k: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k other latents by Pearson correlation of activations: (indices, pearson, cosine)."""
    n, m = codes.shape
    mean = np.asarray(codes.mean(axis=0)).ravel()
    sq = np.asarray(codes.multiply(codes).sum(axis=0)).ravel()
    std = np.sqrt(np.maximum(sq / n - mean**2, 0))
    norm = np.sqrt(sq)
    k = min(k, m - 1)
    idx = np.zeros((len(latents), k), np.int64)
    pear = np.zeros((len(latents), k))
    cos = np.zeros((len(latents), k))
    for s in range(0, len(latents), 256):
        chunk = latents[s:s + 256]
        dots = (codes[:, chunk].T @ codes).toarray()  # [c, M]
        cov = dots / n - mean[chunk, None] * mean[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(std[chunk, None] * std[None, :] > 0, cov / (std[chunk, None] * std[None, :]), 0)
            c = np.where(norm[chunk, None] * norm[None, :] > 0, dots / (norm[chunk, None] * norm[None, :]), 0)
        r[np.arange(len(chunk)), chunk] = -np.inf  # not itself
        top = np.argsort(-r, axis=1, kind="stable")[:, :k]
        idx[s:s + len(chunk)] = top
        pear[s:s + len(chunk)] = np.take_along_axis(r, top, 1)
        cos[s:s + len(chunk)] = np.take_along_axis(c, top, 1)
    return idx, pear, cos


def _prompt(r: Any) -> dict[str, Any]:
    """tokens / values / qualifying_token_index of one example row (real tokens when present)."""
    toks = getattr(r, "tokens", None)
    if toks is not None and not (isinstance(toks, float) and np.isnan(toks)):
        return {"tokens": [str(t) for t in toks], "values": [_r(a) for a in r.token_acts],
                "qualifying_token_index": int(r.token_index)}
    return {"tokens": [str(r.text)], "values": [_r(r.activation)], "qualifying_token_index": 0}


def _activations(ex: Any, vals: np.ndarray, cfg: NeuronpediaConfig) -> list[dict[str, Any]]:
    """Top then quantile examples of one latent as NeuronpediaDashboardActivation dicts."""
    out = []
    # The highest firings among all positive examples: a latent that fires once has its one
    # example in interpret's test quantiles, not in its explain-set "top" examples.
    pos = ex[ex.kind.isin(("top", "quantile"))].sort_values("activation", ascending=False)
    top = pos.drop_duplicates("id").head(cfg.n_top)
    vmax = float(vals.max()) if len(vals) else 0.0
    for r in top.itertuples():
        out.append({"bin_min": -1.0, "bin_max": _r(vmax), "bin_contains": -1.0, **_prompt(r)})
    quant = ex[(ex.kind == "quantile") & ~ex.id.isin(top.id)].sort_values("activation")
    if len(vals) and len(quant):
        edges = np.quantile(vals, np.linspace(0, 1, cfg.n_quantiles + 1))
        for r in quant.itertuples():
            b = int(np.clip(np.searchsorted(edges, r.activation, side="right") - 1, 0,
                            cfg.n_quantiles - 1))
            lo, hi = edges[b], edges[b + 1]
            inside = float(((vals >= lo) & (vals <= hi)).mean())
            out.append({"bin_min": _r(lo), "bin_max": _r(hi), "bin_contains": _r(inside),
                        **_prompt(r)})
    return out


def dashboard_features(latents_df: Any, examples_df: Any, codes: sp.csr_matrix, W_dec: np.ndarray,
                       cfg: NeuronpediaConfig) -> list[dict[str, Any]]:
    """One NeuronpediaDashboardFeature dict per latent of `latents_df`."""
    csc = codes.tocsc()
    latents = latents_df["latent"].to_numpy().astype(np.int64)
    cidx, cpear, ccos = _correlations(csc, latents, cfg.n_correlated)
    by_latent = dict(tuple(examples_df.groupby("latent")))
    n = codes.shape[0]
    feats = []
    for j, lat in enumerate(latents):
        vals = csc.data[csc.indptr[lat]:csc.indptr[lat + 1]]
        vals = vals[vals > 0]
        heights, centres = _hist(vals)
        row = W_dec[lat]
        al = np.argsort(-row, kind="stable")[: cfg.n_alignment]
        l1 = float(np.abs(row).sum()) or 1.0
        ex = by_latent.get(int(lat))
        acts = _activations(ex, vals, cfg) if ex is not None else []
        feats.append({
            "feature_index": int(lat),
            "neuron_alignment_indices": [int(i) for i in al],
            "neuron_alignment_values": [_r(row[i]) for i in al],
            "neuron_alignment_l1": [_r(abs(row[i]) / l1) for i in al],
            "correlated_neurons_indices": [], "correlated_neurons_l1": [],
            "correlated_neurons_pearson": [],
            "correlated_features_indices": [int(i) for i in cidx[j]],
            "correlated_features_l1": [_r(v) for v in ccos[j]],
            "correlated_features_pearson": [_r(v) for v in cpear[j]],
            "neg_str": [], "neg_values": [], "pos_str": [], "pos_values": [],
            "frac_nonzero": float(len(vals) / n) if n else 0.0,
            "freq_hist_data_bar_values": centres,
            "freq_hist_data_bar_heights": heights,
            "logits_hist_data_bar_heights": [], "logits_hist_data_bar_values": [],
            "n_prompts_total": int(n),
            "n_tokens_in_prompt": max((len(a["tokens"]) for a in acts), default=1),
            "dataset": cfg.dataset,
            "activations": acts, "decoder_weights_dist": [], "vector": [],
        })  # fmt: skip
    return feats


def explanation_rows(latents_df: Any, manifest: dict[str, Any], cfg: NeuronpediaConfig
                     ) -> list[dict[str, Any]]:
    """Neuronpedia Explanation rows (db_models/explanation.py fields) for explained latents."""
    scorers = manifest.get("scorers") or []
    rows = []
    for rec in latents_df.to_dict("records"):
        if not (isinstance(rec.get("explanation"), str) and rec["explanation"]):
            continue  # dead or unexplained (pandas gives NaN for a null string)
        scores = {s: (None if rec.get(s) is None or rec.get(s) != rec.get(s) else float(rec[s]))
                  for s in scorers if s in rec}
        rows.append({
            "modelId": cfg.model_id, "layer": f"{cfg.layer}-{cfg.sae_set}",
            "index": str(int(rec["latent"])), "description": str(rec["explanation"]),
            "typeName": f"saescope-{rec.get('explainer') or manifest.get('explainer')}",
            "explanationModelName": manifest.get("model") or rec.get("explainer") or "keywords",
            "notes": json.dumps({"scores": scores}),
        })  # fmt: skip
    return rows


def export_neuronpedia(run: str | Path, out: str | Path, cfg: NeuronpediaConfig | None = None,
                       sae_dir: str | Path | None = None, data: str | Path | None = None,
                       overwrite: bool = False) -> dict[str, Any]:
    """Write `batch-N.json` dashboards and `explanations.jsonl` for a run's interpreted latents.

    `run`: a run folder (data/, sae/, interpret/) or an interpret folder with `sae_dir` and
    `data` given (the SAE and the vectors it interpreted, for the activation statistics).
    """
    from saescope.data.vectors import read_vectors
    from saescope.io import atomic_dir, read_json
    from saescope.run_layout import RunLayout
    from saescope.sae.encode import encode_csr
    from saescope.sae.model import SparseAutoencoder

    cfg = cfg or NeuronpediaConfig()
    lay = RunLayout.detect(run)
    if lay.interpret is None:
        raise InputError(f"{run}: no interpret output (latents.parquet + summary.json)")
    sae_path = Path(sae_dir) if sae_dir else lay.sae
    data_path = Path(data) if data else lay.data
    if sae_path is None or data_path is None:
        raise InputError(f"{run}: the Neuronpedia export needs the SAE and the vectors "
                         "(a run folder with sae/ and data/, or --sae and --data)")
    ex_path = lay.interpret / "examples.parquet"
    if not ex_path.is_file():
        raise InputError(f"{ex_path}: missing (the examples shown on the dashboards)")
    latents_df = pq.read_table(lay.interpret / "latents.parquet").to_pandas()
    examples_df = pq.read_table(ex_path).to_pandas()
    manifest_path = lay.interpret / "manifest.json"
    manifest = read_json(manifest_path) if manifest_path.is_file() else {}
    sae = SparseAutoencoder.load(sae_path)
    vt = read_vectors(data_path)
    codes = encode_csr(sae, vt.X)
    _check_match(codes, vt.ids, examples_df, data_path)
    W_dec = sae.W_dec.detach().float().cpu().numpy()
    feats = dashboard_features(latents_df, examples_df, codes, W_dec, cfg)
    expl = explanation_rows(latents_df, manifest, cfg)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for b, s in enumerate(range(0, len(feats), cfg.features_per_batch)):
            batch = {"model_id": cfg.model_id, "layer": cfg.layer, "sae_set": cfg.sae_set,
                     "sae_id_suffix": None, "features": feats[s:s + cfg.features_per_batch]}
            (tmp / f"batch-{b}.json").write_text(json.dumps(batch))
        with atomic_path(tmp / "explanations.jsonl") as t:
            t.write_text("".join(json.dumps(r) + "\n" for r in expl))
    return {"features": len(feats), "batches": -(-len(feats) // cfg.features_per_batch),
            "explanations": len(expl), "out": str(out)}


def _check_match(codes: sp.csr_matrix, ids: np.ndarray, examples_df: Any, data_path: Path) -> None:
    """Refuse an SAE/data pair that does not give the interpret run's top activations."""
    top = examples_df[examples_df.kind == "top"].head(200)
    row = {str(x): i for i, x in enumerate(ids)}
    bad = 0
    for lat, id_, a in zip(top.latent, top.id, top.activation, strict=True):
        r = row.get(str(id_))
        got = float(codes[r, int(lat)]) if r is not None else float("nan")
        bad += not np.isclose(got, a, rtol=1e-3, atol=1e-4)
    if len(top) and bad > 0.1 * len(top):
        raise InputError(f"{data_path}: {bad} of {len(top)} top examples have other activations "
                         "under this SAE than in the interpret run (another SAE or other data?)")
