"""`run_hypotheses`: select latents on a training split, test them on a held-out split.

Steps: (1) read the vectors (and B with `compare`), the outcome and the texts; (2) split rows
into train and held-out with every group of identical texts on one side (`data.splits.group_split`),
so a duplicate under another id cannot carry a training row into the test; (3) encode with the
SAE; (4) choose `n_select` latents on the training split (`select.py`); (5) on the held-out
split, per chosen latent: the correlation of its activation with the outcome (effect) with a
95% interval, its p-value, the BH q-value over all tested latents, label purity of its top
rows and an explanation; (6) held-out AUROC (R^2 for a numeric outcome) of a logistic (ridge)
regression on the chosen latents beside the same on the raw embedding, with the penalties
chosen by cross-validation on the training split only. Writes hypotheses.parquet, then
manifest.json (the completion mark).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from saescope import __version__
from saescope.errors import ConfigError, InputError
from saescope.hypotheses.config import HypothesesConfig
from saescope.hypotheses.outcome import Outcome, read_outcome
from saescope.hypotheses.select import scale_codes, select_lasso, select_univariate
from saescope.hypotheses.stats import benjamini_hochberg, correlation_test, label_purity
from saescope.interpret import metrics
from saescope.io import OutputJob, atomic_path, open_output, write_json


@dataclass
class Hypotheses:
    """Per tested latent (arrays aligned), from `find_hypotheses`."""

    latent: np.ndarray
    coef: np.ndarray
    effect: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p: np.ndarray
    q: np.ndarray
    purity: np.ndarray
    top_share_positive: np.ndarray
    auroc: np.ndarray
    n_fires_train: np.ndarray
    n_fires_test: np.ndarray


def find_hypotheses(codes_train: sp.csr_matrix, y_train: np.ndarray, codes_test: sp.csr_matrix, y_test: np.ndarray,
                    cfg: HypothesesConfig, binary: bool) -> Hypotheses:
    """Choose latents on the training codes, test each on the held-out codes (see module doc)."""
    if cfg.selection == "lasso":
        chosen, coef = select_lasso(codes_train, y_train, cfg.n_select, binary, cfg.seed)
    else:
        chosen, coef = select_univariate(codes_train, y_train, cfg.n_select)
    threshold = 0.5 if binary else float(np.median(y_train))
    rows: list[tuple[float, ...]] = []
    for lat in chosen:
        acts = codes_test[:, int(lat)].toarray().ravel()
        r, lo, hi, p = correlation_test(acts, y_test)
        purity, share = label_purity(acts, y_test, cfg.n_top, r, threshold)
        auroc = metrics.auroc(acts, y_test) if binary else float("nan")
        rows.append((r, lo, hi, p, purity, share, auroc))
    cols = np.asarray(rows, dtype=np.float64).reshape(len(chosen), 7)
    fires = lambda c: np.asarray((c[:, chosen] != 0).sum(axis=0)).ravel().astype(np.int64)  # noqa: E731
    return Hypotheses(
        latent=np.asarray(chosen, np.int64), coef=np.asarray(coef, np.float64),
        effect=cols[:, 0], ci_low=cols[:, 1], ci_high=cols[:, 2], p=cols[:, 3], q=benjamini_hochberg(cols[:, 3]),
        purity=cols[:, 4], top_share_positive=cols[:, 5], auroc=cols[:, 6],
        n_fires_train=fires(codes_train), n_fires_test=fires(codes_test),
    )


def heldout_score(F_train: Any, y_train: np.ndarray, F_test: Any, y_test: np.ndarray, binary: bool,
                  seed: int = 0) -> dict[str, Any]:
    """Held-out AUROC (binary) or R^2 (numeric), 95% bootstrap interval, of an L2 model on F.

    The penalty is chosen by 5-fold cross-validation on the training rows only.
    """
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV

    if F_train.shape[1] == 0:
        return {"value": None, "ci": [None, None]}
    if binary:
        model = LogisticRegressionCV(Cs=8, cv=5, scoring="roc_auc", max_iter=2000, random_state=seed,
                                     l1_ratios=(0.0,), use_legacy_attributes=False)
        model.fit(F_train, y_train.astype(int))
        s = model.predict_proba(F_test)[:, 1]
        value = metrics.auroc(s, y_test)
        lo, hi = metrics.bootstrap_ci(metrics.auroc_rows, (s, y_test), 1000, seed)
    else:
        model = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(F_train, y_train)
        s = model.predict(F_test)
        value = float(1 - np.sum((y_test - s) ** 2) / np.sum((y_test - y_test.mean()) ** 2))
        lo, hi = metrics.bootstrap_ci(_r2_rows, (s, y_test), 1000, seed)
    return {"value": _f(value), "ci": [_f(lo), _f(hi)]}


def _r2_rows(s_RN: np.ndarray, y_RN: np.ndarray) -> np.ndarray:
    ss = ((y_RN - y_RN.mean(1, keepdims=True)) ** 2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - ((y_RN - s_RN) ** 2).sum(1) / ss


def _f(x: Any) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _rows_are_codes(cfg: HypothesesConfig) -> bool:
    """`cfg.codes`, or a vectors file that `encode --pool-tokens` wrote with this SAE (its
    metadata says so; pooled codes of another SAE are an error)."""
    from saescope.sae.encode import check_pooled_codes, file_origin

    found = check_pooled_codes(file_origin(cfg.vectors), cfg.sae, str(cfg.vectors))  # type: ignore[arg-type]
    if cfg.compare is not None:
        found_b = check_pooled_codes(file_origin(cfg.compare), cfg.sae, str(cfg.compare))  # type: ignore[arg-type]
        if found != found_b and not cfg.codes:
            raise InputError(f"{cfg.vectors} and {cfg.compare}: one holds pooled SAE codes, the other "
                             "does not (encode both the same way)")
    return cfg.codes or found


def _codes_of(cfg: HypothesesConfig, sae: Any, X: np.ndarray, progress: bool,
              codes_given: bool) -> Any:
    """The SAE codes of the rows: encoded from the vectors, or the vectors themselves when they
    are codes (`codes_given`: documents as pooled codes of their tokens, `encode --pool-tokens
    --dense`)."""
    import scipy.sparse as sp

    from saescope.sae import encode_csr

    if not codes_given:
        return encode_csr(sae, X, progress=progress).tocsr()
    if X.shape[1] != sae.num_latents:
        raise InputError(f"{cfg.vectors}: --codes rows have {X.shape[1]} columns, the SAE in "
                         f"{cfg.sae} has {sae.num_latents} latents")
    codes = sp.csr_matrix(np.asarray(X, dtype=np.float32))
    codes.eliminate_zeros()
    return codes


def run_hypotheses(cfg: HypothesesConfig, progress: bool = False) -> dict[str, Any]:
    """Find the latents of `cfg.sae` that predict the outcome (see module doc); returns the manifest."""
    t0 = time.time()
    with _open_out(cfg) as job:
        return _run_into(cfg, job.work, t0, progress)


def _run_into(cfg: HypothesesConfig, out: Path, t0: float, progress: bool) -> dict[str, Any]:
    outcome = read_outcome(cfg)
    from saescope.data.splits import group_split
    from saescope.interpret.inputs import load_sae

    codes_given = _rows_are_codes(cfg)
    sae = load_sae(cfg.sae, None if codes_given else outcome.X.shape[1], cfg.vectors)
    train, test = group_split(outcome.groups, cfg.test_fraction, cfg.seed)
    if len(train) < 10 or len(test) < 10:
        raise InputError(f"{cfg.vectors}: too few rows for a train/held-out split ({len(train)}/{len(test)})")
    y = outcome.y
    if outcome.binary and (len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 2):
        raise InputError(f"{cfg.vectors}: the train or held-out split has one class only")
    codes = _codes_of(cfg, sae, outcome.X, progress, codes_given)
    hyp = find_hypotheses(codes[train], y[train], codes[test], y[test], cfg, outcome.binary)
    explanations = _explanations(cfg, outcome, codes, train, hyp.latent)
    table = _table(hyp, explanations, cfg.fdr)
    tokens = _latent_tokens(cfg, outcome, codes, train, hyp.latent)
    if tokens is not None:
        table = table.append_column("top_tokens", pa.array([tokens[i] for i in _order(hyp)],
                                                           pa.list_(pa.string())))
    with atomic_path(out / "hypotheses.parquet") as tmp:
        pq.write_table(table, tmp)
    sig = hyp.latent[hyp.q <= cfg.fdr]
    scaled_train, scale = scale_codes(codes[train][:, hyp.latent])
    scaled_test, _ = scale_codes(codes[test][:, hyp.latent], scale)
    selected = heldout_score(scaled_train, y[train], scaled_test, y[test], outcome.binary, cfg.seed)
    raw = heldout_score(outcome.X[train], y[train], outcome.X[test], y[test], outcome.binary, cfg.seed)
    key = "auroc" if outcome.binary else "r2"
    manifest = {
        "saescope_version": __version__,
        "stage": "hypotheses",
        "config": asdict(cfg),
        "outcome": outcome.describe(),
        "split": {"rule": "group_split on identical texts" if outcome.by_text else "group_split by row",
                  "n_train": int(len(train)), "n_test": int(len(test)), "seed": cfg.seed,
                  "texts_in_both": len(set(outcome.groups[train].tolist()) & set(outcome.groups[test].tolist()))},
        "n_tested": int(len(hyp.latent)),
        "n_significant": int(len(sig)),
        "significant_latents": [int(x) for x in sig],
        "fdr": cfg.fdr,
        key: {"selected_features": selected["value"], "raw_embedding": raw["value"]},
        f"{key}_ci": {"selected_features": selected["ci"], "raw_embedding": raw["ci"]},
        "seconds": time.time() - t0,
    }
    write_json(out / "manifest.json", manifest)
    return manifest


def _open_out(cfg: HypothesesConfig) -> OutputJob:
    if not cfg.out or not cfg.vectors or not cfg.sae:
        raise ConfigError("run_hypotheses needs cfg.vectors, cfg.sae and cfg.out")
    # Nothing is resumed (an unfinished run is redone), so no fingerprint to match.
    return open_output(cfg.out, cfg.overwrite, what="hypothesis search",
                       inputs=[cfg.vectors, cfg.sae, cfg.compare, cfg.texts, cfg.interpretation])


def _explanations(cfg: HypothesesConfig, outcome: Outcome, codes: sp.csr_matrix, train: np.ndarray,
                  latents: np.ndarray) -> list[str | None]:
    """An explanation per latent: from `cfg.interpretation` where it has one, else keywords of the
    latent's top training texts."""
    given: dict[int, str] = {}
    if cfg.interpretation:
        path = Path(cfg.interpretation) / "latents.parquet"
        if not path.exists():
            raise InputError(f"--interpretation {cfg.interpretation}: no latents.parquet")
        t = pq.read_table(path, columns=["latent", "explanation"]).to_pylist()
        given = {int(r["latent"]): r["explanation"] for r in t if r["explanation"]}
    out: list[str | None] = [given.get(int(lat)) for lat in latents]
    missing = [i for i, e in enumerate(out) if e is None]
    if not missing or outcome.texts is None:
        return out
    from saescope.interpret.explain import KEYWORDS_FIT_ROWS
    from saescope.interpret.keywords import KeywordsConfig, KeywordsExplainer

    texts = outcome.texts
    rng = np.random.default_rng(cfg.seed)
    fit_rows = train if len(train) <= KEYWORDS_FIT_ROWS else rng.choice(train, KEYWORDS_FIT_ROWS, replace=False)
    kw = KeywordsExplainer(KeywordsConfig(stop_words=cfg.stop_words)).fit([texts[i] for i in fit_rows])
    tops = []
    for i in missing:
        acts = codes[train][:, int(latents[i])].toarray().ravel()
        firing = np.flatnonzero(acts > 0)
        tops.append(train[firing[np.argsort(-acts[firing], kind="stable")[: cfg.n_top]]])
    rows = np.unique(np.concatenate(tops))
    labels, terms = kw.explain([np.searchsorted(rows, t) for t in tops], kw.transform_texts([texts[r] for r in rows]))
    for i, label, t in zip(missing, labels, terms, strict=True):
        out[i] = label if t else None
    return out


def _latent_tokens(cfg: HypothesesConfig, outcome: Outcome, codes: sp.csr_matrix, train: np.ndarray,
                   latents: np.ndarray, n_tokens: int = 5) -> list[list[str]] | None:
    """Per latent, the tokens that fired it: over its `n_top` top training documents, the token
    where it fired most in each (`sae_token` of `encode --pool-tokens`), distinct, most frequent
    first (ties: the higher document first), at most `n_tokens`. None unless the vectors file
    carries `sae_idx` and `sae_token`."""
    from collections import Counter

    from saescope.data.vectors import parquet_files
    from saescope.sae.encode import latent_tokens

    files = parquet_files(cfg.vectors) if Path(str(cfg.vectors)).suffix == ".parquet" or \
        Path(str(cfg.vectors)).is_dir() else []
    if not files or not {"sae_idx", "sae_token"} <= set(pq.read_schema(files[0]).names):
        return None
    t = pq.read_table(cfg.vectors, columns=["id", "sae_idx", "sae_token"])
    where = {str(i): r for r, i in enumerate(t["id"].to_pylist())}
    rows = [where.get(str(i)) for i in outcome.ids]
    sae_idx, sae_tok = t["sae_idx"].to_pylist(), t["sae_token"].to_pylist()
    out, codes_train = [], codes[train]
    for lat in latents:
        acts = codes_train[:, int(lat)].toarray().ravel()
        firing = np.flatnonzero(acts > 0)
        top = train[firing[np.argsort(-acts[firing], kind="stable")[: cfg.n_top]]]
        picked = [rows[int(i)] for i in top if rows[int(i)] is not None]
        toks = latent_tokens([[int(lat)]] * len(picked), [sae_idx[r] for r in picked],
                             [sae_tok[r] for r in picked])
        counts = Counter(tok[0] for tok in toks if tok[0] is not None)
        out.append([tok for tok, _ in counts.most_common(n_tokens)])
    return out


def _order(hyp: Hypotheses) -> np.ndarray:
    """Row order of hypotheses.parquet: most significant first (q, then |effect|)."""
    return np.lexsort((-np.abs(hyp.effect), np.nan_to_num(hyp.q, nan=2.0)))


def _table(hyp: Hypotheses, explanations: list[str | None], fdr: float) -> pa.Table:
    """hypotheses.parquet, most significant first (q, then |effect|)."""
    order = _order(hyp)
    f64 = lambda a: pa.array(np.asarray(a, np.float64)[order], pa.float64())  # noqa: E731
    return pa.table({
        "latent": pa.array(hyp.latent[order].astype(np.int32), pa.int32()),
        "effect": f64(hyp.effect), "ci_low": f64(hyp.ci_low), "ci_high": f64(hyp.ci_high),
        "p": f64(hyp.p), "q": f64(hyp.q),
        "significant": pa.array((np.nan_to_num(hyp.q, nan=2.0) <= fdr)[order], pa.bool_()),
        "purity": f64(hyp.purity), "top_share_positive": f64(hyp.top_share_positive),
        "auroc": f64(hyp.auroc), "coef": f64(hyp.coef),
        "n_fires_train": pa.array(hyp.n_fires_train[order], pa.int64()),
        "n_fires_test": pa.array(hyp.n_fires_test[order], pa.int64()),
        "explanation": pa.array([explanations[i] for i in order], pa.string()),
    })
