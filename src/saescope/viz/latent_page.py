"""What a feature page shows, computed once for the report's latent cards and the dashboard's
latent page (Neuronpedia and SAEDashboard are the models).

For one latent: its explanation and every score in words (scorer, value, 95% interval, chance
baseline); its activations; examples by kind (top, quantile, random and hard negatives); the
label breakdown of its top examples against the label's share of all rows; its density;
similar latents by decoder cosine and by co-activation; its family; and, where the examples
carry per-token activations (`tokens` + `token_acts` list columns), the tokens it fires on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

EXAMPLE_KINDS = ("top", "quantile", "random_negative", "hard_negative")
KIND_TITLES = {
    "top": "Top activating examples",
    "quantile": "Examples across the activation quantiles",
    "random_negative": "Random texts where it does not fire",
    "hard_negative": "Hard negatives: similar texts where it does not fire",
}

SCORER_WORDS = {
    "embedding": "embedding AUROC: cosine of the explanation to held-out texts, firing vs random "
                 "non-firing (Paulo et al. 2024)",
    "embedding_hard": "embedding AUROC against hard negatives (similar texts that do not fire; below 0.5: "
                      "the explanation fits those neighbours better, it names their shared topic)",
    "detection": "detection balanced accuracy: an LLM says which held-out texts match "
                 "(Paulo et al. 2024)",
    "prediction": "prediction Pearson r: an LLM's [-1, 1] prediction vs firing (O'Neill et al. 2024)",
    "simulation": "simulation Pearson r: LLM-simulated vs true activations (Bills et al. 2023)",
    "intruder": "intruder accuracy: spotting the one text where it does not fire (Paulo & Belrose 2025)",
}
CHANCE_WORDS = {
    "intruder": "chance rate (1 / texts per round)",
}
"""The baseline named in words; every other scorer's is the same scorer on a shuffled explanation."""

EXPLAINER_WORDS = {
    "keywords": "keywords explainer (distinctive words of the top examples vs random texts, no model)",
    "llm": "LLM explainer (top and quantile examples shown to a language model)",
}


def scorer_words(name: str) -> str:
    return SCORER_WORDS.get(name, f"{name} score")


def scores_in_words(scorers: list[str], row: pd.Series) -> pd.DataFrame:
    """One row per scorer: what it measures, the score, its 95% interval and its baseline."""
    rows = []
    for s in scorers:
        lo, hi = row.get(f"{s}_lo"), row.get(f"{s}_hi")
        rows.append({
            "scorer": scorer_words(s),
            "score": _num(row.get(s)),
            "95% bootstrap interval": f"[{_fmt(lo)}, {_fmt(hi)}]",
            "baseline": _num(row.get(f"{s}_baseline")),
            "baseline is": CHANCE_WORDS.get(s, "the same scorer with another latent's explanation"),
        })
    return pd.DataFrame(rows)


def other_explanations(extra: dict[str, pd.DataFrame], lat: int) -> pd.DataFrame | None:
    """The latent's explanations in the other interpret outputs, each with its scores in words."""
    rows = []
    for source, df in extra.items():
        hit = df[df["latent"] == lat]
        if hit.empty or "explanation" not in hit.columns:
            continue
        r = hit.iloc[0]
        cols = set(df.columns)
        scores = [f"{scorer_words(s).split(':')[0]} {_fmt(r[s])} [{_fmt(r[f'{s}_lo'])}, "
                  f"{_fmt(r[f'{s}_hi'])}], baseline {_fmt(r.get(f'{s}_baseline'))}"
                  for s in df.columns if f"{s}_lo" in cols and f"{s}_hi" in cols]
        rows.append({"source": source, "explainer": r.get("explainer", ""),
                     "explanation": r["explanation"], "scores": "; ".join(scores)})
    return pd.DataFrame(rows) if rows else None


def examples_by_kind(ex_l: pd.DataFrame | None, n: int = 20) -> dict[str, pd.DataFrame]:
    """The latent's examples per kind, strongest first (at most `n` of each)."""
    if ex_l is None or len(ex_l) == 0:
        return {}
    out = {}
    for kind in EXAMPLE_KINDS:
        k = ex_l[ex_l["kind"] == kind].sort_values("activation", ascending=False).head(n)
        if len(k):
            cols = [c for c in ("activation", "text", "id", "split") if c in k.columns]
            out[kind] = k[cols].reset_index(drop=True)
    return out


def label_breakdown(top_ids: pd.Series, meta: pd.DataFrame | None, label: str | None) -> pd.DataFrame | None:
    """Share of each label among the top examples beside its share of all rows (the base rate)."""
    if meta is None or label is None or label not in meta.columns or len(top_ids) == 0:
        return None
    labels = meta.set_index("id")[label]
    labels = labels[~labels.index.duplicated()]
    got = labels.reindex(top_ids.astype(str)).dropna()
    if len(got) == 0:
        return None
    counts = got.value_counts()
    base = labels.value_counts(normalize=True)
    return pd.DataFrame({
        label: counts.index.astype(str),
        "top examples": counts.to_numpy(),
        "share of top examples": (counts / counts.sum()).to_numpy(),
        "share of all rows": base.reindex(counts.index).fillna(0).to_numpy(),
    })


def decoder_neighbours(row: pd.Series, W_unit: np.ndarray | None, n: int = 10) -> pd.DataFrame | None:
    """Most similar latents by decoder cosine (from the SAE, else interpret's `similar_latents`)."""
    lat = int(row["latent"])
    if W_unit is not None and lat < len(W_unit):
        sims = W_unit @ W_unit[lat]
        sims[lat] = -np.inf
        top = np.argsort(-sims, kind="stable")[:n]
        return pd.DataFrame({"latent": top.astype(int), "decoder cosine": sims[top]})
    sim = row.get("similar_latents")
    if sim is None or (isinstance(sim, float) and np.isnan(sim)):
        return None
    return pd.DataFrame({"latent": [int(v) for v in list(sim)[:n]]})


def coactivation_neighbours(codes: sp.spmatrix | None, lat: int, n: int = 10) -> pd.DataFrame | None:
    """Latents that fire on the same rows: weight C_ij / min(C_ii, C_jj), where C counts rows on
    which both fire (the co-occurrence weight of O'Neill et al. 2024, arXiv:2408.00657)."""
    if codes is None or lat >= codes.shape[1]:
        return None
    csc = codes.tocsc()
    rows = csc.indices[csc.indptr[lat]:csc.indptr[lat + 1]]
    if len(rows) == 0:
        return None
    sub = (codes.tocsr()[rows] != 0)
    both = np.asarray(sub.sum(axis=0)).ravel().astype(float)
    alone = np.diff(csc.indptr).astype(float)
    both[lat] = 0
    weight = both / np.maximum(np.minimum(alone, alone[lat]), 1)
    top = [int(t) for t in np.argsort(-weight, kind="stable")[:n] if both[t] > 0]
    if not top:
        return None
    return pd.DataFrame({"latent": top, "co-firing rows": both[top].astype(int),
                         "co-activation weight": weight[top]})


def family_members(table: pd.DataFrame, row: pd.Series, n: int = 50) -> pd.DataFrame | None:
    """Latents of the same family (root latent first, then by density)."""
    fam = row.get("family")
    if "family" not in table.columns or fam is None or pd.isna(fam):
        return None
    members = table[table["family"] == fam]
    key = "density" if "density" in members.columns else "latent"
    members = members.assign(_root=(members["latent"] == fam)).sort_values(
        ["_root", key], ascending=False)
    cols = [c for c in ("latent", "explanation", "density") if c in members.columns]
    return members[cols].head(n).reset_index(drop=True)


def token_highlights(ex_l: pd.DataFrame | None, n: int = 5) -> list[list[tuple[str, float]]]:
    """(token, activation) sequences of the top examples, when the examples carry them."""
    if ex_l is None or not {"tokens", "token_acts"} <= set(ex_l.columns):
        return []
    top = ex_l[ex_l["kind"] == "top"].sort_values("activation", ascending=False).head(n)
    return [list(zip(list(t), [float(a) for a in acts], strict=False))
            for t, acts in zip(top["tokens"], top["token_acts"], strict=True) if t is not None]


def token_spans_html(seq: list[tuple[str, float]]) -> str:
    """One example's tokens as HTML spans, each shaded orange by its activation relative to the
    example's largest (alpha = act / max; tokens that do not fire stay unshaded). Token text
    is escaped: it comes from the data."""
    import html

    top = max((a for _, a in seq), default=0) or 1
    return "".join(f'<span class="tok" style="background:rgba(255,120,0,{max(0.0, a) / top:.2f})" '
                   f'title="{a:.3g}">{html.escape(t)}</span>' for t, a in seq)


def activation_summary(acts: np.ndarray) -> dict[str, Any]:
    acts = acts[np.isfinite(acts)]
    if len(acts) == 0:
        return {}
    return {"non-zero activations": len(acts), "max": float(acts.max()),
            "median": float(np.median(acts))}


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _fmt(x: Any) -> str:
    v = _num(x)
    return "–" if np.isnan(v) else f"{v:.3f}"
