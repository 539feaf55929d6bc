"""`saescope demo --per-token`: the token-level path on MMLU with SmolLM2, offline, on a CPU.

1. MMLU questions (a sample stratified by subject), `token_seeds` questions of the target domain
   held out as seeds, the rest split by question into SAE training and validation; the LLM's
   block-`layer` activations written one row per token (first position left out,
   `max_tokens` cap), the seeds' tokens and the pool's tokens in two stores;
2. a TopK SAE trained on the training questions' tokens, inputs standardised per dimension
   (massive activations), validated on the held-out questions' tokens;
3. every question's tokens' codes pooled into one code per question (`encode --pool-tokens`),
   for the pool and the seeds;
4. `token_latents` live latents explained at token level (keywords of the firing token and its
   neighbours, embedding scorer on the context windows, explain and test sets disjoint by
   question) against shuffled explanations;
5. the target domain curated from the seeds in the SAE's own space (`sae-pu` on the pooled
   codes, why-columns naming latents and tokens) beside `embedding-pu` / `embedding-centered`
   on the same pooled codes and random;
6. hypotheses: latents whose pooled activation predicts the target domain on held-out questions,
   each with the tokens it fired on.

No HTML report (`saescope report` on the run's files draws one; it costs about two minutes
here). The stages run through the same cached loop as the MiniLM demo (`saescope.demo`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from saescope.io import atomic_path, read_json

if TYPE_CHECKING:
    from saescope.demo import DemoConfig, _Run

TOKEN_BASELINES = ("embedding-pu", "embedding-centered", "random")
"""Curation baselines on the same pooled codes, beside `sae-pu`."""


def _p(run: _Run, name: str) -> Path:
    return run.root / name


def _q(c: DemoConfig) -> tuple[int, int]:
    """(questions, SAE steps): halved with `quick`."""
    return (max(40, c.token_rows // 2), max(50, c.token_steps // 2)) if c.quick else \
        (c.token_rows, c.token_steps)


# ---------------------------------------------------------------------------- 1. tokens
def data_config(run: _Run) -> dict[str, Any]:
    c = run.cfg
    return {"rows": _q(c)[0], "domain": c.domain, "n_seeds": c.token_seeds, "seed": c.seed,
            "val_fraction": c.val_fraction, "lm": c.lm, "layer": c.layer, "max_tokens": c.max_tokens}


def data_outputs(run: _Run) -> list[Path]:
    d = run.data_dir
    return [d / "questions.parquet", d / "tokens.parquet", d / "pool_tokens.parquet",
            d / "seed_tokens.parquet"]


def data_run(run: _Run, _conf: Any) -> None:
    """Questions sampled and split (seed / train / val), then their tokens' activations."""
    from saescope.curate.evaluate import seed_pool_split
    from saescope.data.activations import ActivationExtractor, extract_table
    from saescope.data.builtin import load_mmlu
    from saescope.demo import stratified_sample
    from saescope.errors import ConfigError

    c = run.cfg
    rng = np.random.default_rng(c.seed)
    table = stratified_sample(load_mmlu(), _q(c)[0], rng)
    is_target = np.asarray(table["domain"].to_pylist()) == c.domain
    if is_target.sum() <= c.token_seeds:
        raise ConfigError(f"only {int(is_target.sum())} {c.domain} questions among {table.num_rows}, "
                          f"need more than {c.token_seeds} seeds (raise --token-rows)")
    split = np.full(table.num_rows, "train", dtype=object)
    split[seed_pool_split(is_target, c.token_seeds, rng)[0]] = "seed"
    rest = np.flatnonzero(split == "train")
    split[rng.choice(rest, size=max(1, int(round(len(rest) * c.val_fraction))), replace=False)] = "val"
    table = table.append_column("split", pa.array(split.tolist(), pa.string()))
    d = run.data_dir
    d.mkdir(parents=True, exist_ok=True)
    with atomic_path(d / "questions.parquet") as tmp:
        pq.write_table(table, tmp)
    ex = ActivationExtractor(c.lm, layers=[c.layer], max_tokens=c.max_tokens, device=c.device)
    extract_table(table, d / "tokens.parquet", ex, per_token=True, overwrite=True,
                  progress=run.progress)
    tokens = pq.read_table(d / "tokens.parquet")
    is_seed = pc.equal(tokens["split"], "seed")
    for name, mask in (("seed_tokens", is_seed), ("pool_tokens", pc.invert(is_seed))):
        with atomic_path(d / f"{name}.parquet") as tmp:
            pq.write_table(tokens.filter(mask), tmp)


def data_report(run: _Run) -> None:
    d = run.data_dir
    split = pq.read_table(d / "questions.parquet", columns=["split"])["split"].to_pylist()
    tok = pq.read_table(d / "tokens.parquet", columns=["split"])["split"].to_pylist()
    n = {s: split.count(s) for s in ("train", "val", "seed")}
    t = {s: tok.count(s) for s in ("train", "val", "seed")}
    run.results["data"] = {"questions": n, "tokens": t}
    run.echo(f"      {len(split):,} questions, {len(tok):,} tokens: {n['train']} questions "
             f"({t['train']:,} tokens) train, {n['val']} ({t['val']:,}) validation, "
             f"{n['seed']} ({t['seed']:,}) seeds ({run.cfg.domain})")


# ---------------------------------------------------------------------------- 2. SAE
def sae_config(run: _Run) -> Any:
    from saescope.sae import SAEConfig, TrainConfig

    c = run.cfg
    return TrainConfig(sae=SAEConfig(arch="topk", k=c.k, expansion_factor=c.expansion_factor),
                       steps=_q(c)[1], batch_size=256, input_standardize=True, seed=c.seed,
                       device=c.device, log_every=25, checkpoint_every=0)


def sae_run(run: _Run, tcfg: Any) -> None:
    import warnings

    from saescope.sae import TrainRunConfig, run_train

    with warnings.catch_warnings():  # a demo-sized run: its step count is a choice, not a mistake
        warnings.filterwarnings("ignore", message="training for only")
        run_train(TrainRunConfig(input=str(run.data_dir / "pool_tokens.parquet"),
                                 out=str(_p(run, "sae")), train=tcfg), progress=run.progress)


def sae_report(run: _Run) -> None:
    m = read_json(_p(run, "sae") / "metrics.json")
    run.results["sae"] = m
    run.echo(f"      validation FVU {m['fvu']:.3f} (standardised inputs), L0 {m['l0']:.1f}, "
             f"dead {m['dead_fraction']:.1%}")


# ---------------------------------------------------------------------------- 3. pooled codes
def encode_config(run: _Run) -> dict[str, Any]:
    return {"pool_tokens": run.cfg.token_pooling}


def encode_run(run: _Run, conf: dict[str, Any]) -> None:
    from saescope.sae import EncodeConfig, run_encode

    out = _p(run, "docs")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("pool", "seed"):
        run_encode(EncodeConfig(sae=str(_p(run, "sae")), input=str(run.data_dir / f"{name}_tokens.parquet"),
                                out=str(out / f"{name}.parquet"), pool_tokens=conf["pool_tokens"],
                                dense=True, device="cpu", overwrite=True), progress=run.progress)


def encode_report(run: _Run) -> None:
    n = pq.read_metadata(_p(run, "docs") / "pool.parquet").num_rows
    run.echo(f"      {n:,} pool questions and {run.cfg.token_seeds} seeds as their tokens' "
             f"{run.cfg.token_pooling}-pooled codes")


# ---------------------------------------------------------------------------- 4. interpret
def interpret_config(run: _Run) -> Any:
    from saescope.interpret import InterpretConfig

    c = run.cfg
    return InterpretConfig(data=str(run.data_dir / "pool_tokens.parquet"), sae=str(_p(run, "sae")),
                           out=str(_p(run, "interpret")), explainer="keywords", scorers=("embedding",),
                           latents=str(c.token_latents), seed=c.seed, device="cpu")


def interpret_run(run: _Run, icfg: Any) -> None:
    from saescope.interpret import run_interpret

    run_interpret(icfg, progress=run.progress)


def interpret_report(run: _Run) -> None:
    s = read_json(_p(run, "interpret") / "summary.json")
    run.results["interpret"] = s
    emb = s["scores"].get("embedding", {})
    run.echo(f"      {s.get('counts', {}).get('ok', '?')} latents explained at token level; embedding "
             f"AUROC {emb.get('mean', float('nan')):.3f} (shuffled {emb.get('baseline_mean', float('nan')):.3f})")


# ---------------------------------------------------------------------------- 5. curate
def curate_config(run: _Run) -> Any:
    from saescope.curate import CurateConfig

    c, docs = run.cfg, _p(run, "docs")
    return CurateConfig(seeds=str(docs / "seed.parquet"), pool=str(docs / "pool.parquet"),
                        out=str(_p(run, "curate")), budget=c.token_budget, space="sae-pu",
                        sae=str(_p(run, "sae")), interpretation=str(_p(run, "interpret")),
                        label_field="domain", target=[c.domain], seed=c.seed, device="cpu",
                        baselines=list(TOKEN_BASELINES))


def curate_run(run: _Run, ccfg: Any) -> None:
    from saescope.curate import run_curate

    run_curate(ccfg, progress=run.progress)


def curate_report(run: _Run) -> None:
    m = read_json(_p(run, "curate") / "manifest.json")
    run.results["curate"] = m
    sel = pq.read_table(_p(run, "curate") / "selected.parquet")
    first = sel.slice(0, 1).to_pylist()
    run.results["why"] = [{"id": r["id"], "latents": r.get("top_latents", [])[:3],
                           "tokens": r.get("top_tokens", [])[:3]} for r in first]
    run.echo(f"      sae-pu precision {m['metrics']['precision']:.3f} at budget {run.cfg.token_budget}")


# ---------------------------------------------------------------------------- 6. hypotheses
def hypotheses_config(run: _Run) -> Any:
    from saescope.hypotheses import HypothesesConfig

    c = run.cfg
    return HypothesesConfig(vectors=str(_p(run, "docs") / "pool.parquet"), sae=str(_p(run, "sae")),
                            out=str(_p(run, "hypotheses")), label_field="domain", positive=c.domain,
                            interpretation=str(_p(run, "interpret")), n_select=10, seed=c.seed)


def hypotheses_run(run: _Run, hcfg: Any) -> None:
    from saescope.hypotheses import run_hypotheses

    run_hypotheses(hcfg, progress=run.progress)


def hypotheses_report(run: _Run) -> None:
    man = read_json(_p(run, "hypotheses") / "manifest.json")
    rows = pq.read_table(_p(run, "hypotheses") / "hypotheses.parquet").to_pylist()
    run.results["hypotheses"] = {"n_significant": man["n_significant"], "n_tested": man["n_tested"],
                                 "auroc": man.get("auroc"), "top": rows[:3]}
    run.echo(f"      {man['n_significant']} of {man['n_tested']} latents predict {run.cfg.domain} on "
             "held-out questions")


def summary(run: _Run) -> dict[str, Any]:
    """The figures the closing lines print (`summary.json`)."""
    c, res = run.cfg, run.results
    man = res["curate"]
    curation = {man["config"]["space"]: man["metrics"], **man.get("baselines", {})}
    hyp = res["hypotheses"]
    return {
        "per_token": True, "domain": c.domain, "lm": c.lm, "layer": c.layer,
        "data": res["data"],
        "sae": {k: res["sae"].get(k) for k in ("fvu", "l0", "dead_fraction", "steps", "seconds")},
        "interpret": {"scores": res["interpret"].get("scores", {}),
                      "counts": res["interpret"].get("counts", {})},
        "curation": {s: {k: m.get(k) for k in ("precision", "recall", "diversity")}
                     for s, m in curation.items()},
        "why": res["why"],
        "hypotheses": {"n_significant": hyp["n_significant"], "n_tested": hyp["n_tested"],
                       "auroc": hyp["auroc"],
                       "top": [{k: r.get(k) for k in ("latent", "effect", "q", "explanation", "top_tokens")}
                               for r in hyp["top"]]},
        "budget": c.token_budget,
    }


def format_summary(s: dict[str, Any], root: Path) -> list[str]:
    """The closing lines of the token-level demo."""
    sae, tok = s["sae"], s["data"]["tokens"]
    lines = ["", "Summary (token level)", "---------------------",
             f"Tokens: {sum(tok.values()):,} ({s['lm']} block {s['layer']}, first position left out)",
             f"Token SAE (validation questions' tokens, standardised): FVU {sae['fvu']:.3f}  "
             f"L0 {sae['l0']:.1f}  dead {sae['dead_fraction']:.1%}"]
    for scorer, v in s["interpret"]["scores"].items():
        lo, hi = v.get("ci", [float("nan")] * 2)
        lines.append(f"Interpretation (keywords at token level, {scorer} scorer): {v['mean']:.3f} "
                     f"[{lo:.3f}, {hi:.3f}]  shuffled baseline {v.get('baseline_mean', float('nan')):.3f}")
    lines.append(f"Curation of {s['domain']} by pooled token codes (budget {s['budget']}): "
                 "precision, recall, diversity")
    for space, m in s["curation"].items():
        lines.append(f"  {space:<20}" + "".join(f"{'-' if m[k] is None else format(m[k], '.3f'):>10}"
                                              for k in ("precision", "recall", "diversity")))
    for w in s["why"]:
        pairs = ", ".join(f"{lat} {_tok(t)}" for lat, t in zip(w["latents"], w["tokens"], strict=False))
        lines.append(f"  first pick {w['id']}: latents (tokens) {pairs}")
    h = s["hypotheses"]
    lines.append(f"Hypotheses: {h['n_significant']} of {h['n_tested']} latents predict {s['domain']} "
                 f"(held-out AUROC {_f((h['auroc'] or {}).get('selected_features'))})")
    for r in h["top"]:
        lines.append(f"  latent {r['latent']:>5} effect {r['effect']:+.3f} q {_f(r['q'])}  tokens "
                     f"{' '.join(_tok(t) for t in r.get('top_tokens') or [])}  {r.get('explanation') or ''}")
    lines.append(f"Took {s['seconds']['total']:.0f} s "
                 f"({', '.join(f'{k} {v:.0f} s' for k, v in s['seconds'].items() if k != 'total')}).")
    lines += ["", "Next:",
              f"  saescope report --data {root / 'data' / 'pool_tokens.parquet'} --sae {root / 'sae'} "
              f"--interpret {root / 'interpret'} --out {root / 'report.html'}",
              "  docs/usage.md, 'Token-level SAEs on an LLM': the same steps as commands"]
    return lines


def _tok(t: str | None) -> str:
    """A token as text in quotes (its leading space shows), escapes for control characters."""
    return "-" if t is None else json.dumps(t, ensure_ascii=False)


def _f(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}"
