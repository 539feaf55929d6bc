"""saescope's SAE trainer beside EleutherAI sparsify and HypotheSAEs, on the same data and split.

Data: the MiniLM embeddings of all 14,044 MMLU questions (benchmarks/curate_mmlu.py's cache,
`~/.cache/saescope/bench/mmlu_minilm.parquet`), split 90/10 by `torch.randperm` with seed 0.
Every tool sees only the training rows; all figures are measured here by the same code:

- val FVU: sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 over the validation rows (Gao et al. 2024,
  arXiv:2406.04093, sec. 2.1), each tool's own inference encoder and decoder;
- dead: fraction of latents that fire on none of the training rows (inference encoder);
- steps, seconds: optimiser steps and wall-clock training time (one torch thread).

Rows (`--budget`):
- `equal`: batch 256 and 980 steps (20 epochs of the 12,640 training rows) for every tool:
  saescope `train_sae` with `steps=980` (no early stopping); sparsify's `SparseCoder` stepped as
  its `Trainer.fit` steps it (b_dec = mean of the first batch, decoder renormalised before each
  forward, gradient projection, its optimiser and schedule: `--sparsify-optimizer`, default
  `adam` with lr 2e-4/sqrt(M/2^14), 1000 warm-up steps and linear decay over the run as
  `get_linear_schedule_with_warmup` gives, or `signum`, its config's default: SignSGD under
  ScheduleFree); HypotheSAEs' `SparseAutoencoder.fit` with batch 256 and 20 epochs
  (its loader keeps the last partial batch, hence 50 steps an epoch).
- `defaults`: each tool with its own defaults: saescope `train_sae` with a default
  `TrainConfig` (it holds out its own early-stopping rows); HypotheSAEs `fit` with its defaults
  (batch 512, up to 200 epochs, early stopping with patience 5 on 10% of the training rows
  held out for it, so that neither tool stops on the rows it is reported on).

Peers come from `pip install saescope[bench]` (eai-sparsify, hypothesaes); HypotheSAEs' model
file is loaded on its own so that its LLM-client dependencies are not needed.

    python benchmarks/sae_vs_peers.py [--rows 3072x16,3072x32,6144x32]
        [--tools saescope,sparsify,hypothesaes] [--budget equal,defaults] [--archs topk]

`--tools saelens --saelens-archs topk,batchtopk,matryoshka,jumprelu [--saelens-lr LR]
[--saelens-options JSON] [--saelens-trainer JSON]` adds SAELens 6.x rows (its own `SAETrainer`
over a data provider of the same batches; equal budget only). `--inner` is for choosing
settings: it trains on 90% of the training rows and reports on the other 10%, never loading the
reported validation rows; `--saescope-config JSON` sets saescope TrainConfig/SAEConfig fields
(e.g. '{"sae": {"init_encoder_scale": 0.01}}').

`--tokens FILE [--standardize]` trains on SmolLM2 token rows instead (the per-token cache of
benchmarks/curate_activations.py, split by held-out questions as that benchmark's token SAE is).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

Encoder = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""x [B, D] -> (x_hat [B, D], active [B, M] bool)."""

BATCH, STEPS = 256, 980


def load_split(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(X_train, X_val): the 90/10 torch.randperm(seed 0) split of the cached MMLU vectors."""
    from saescope.data.vectors import read_vectors

    if not cache.is_file():
        raise SystemExit(f"{cache} is missing: run benchmarks/curate_mmlu.py once to embed MMLU")
    X = read_vectors(cache).X
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(0)).numpy()
    n_val = len(X) // 10
    return X[np.sort(perm[n_val:])], X[np.sort(perm[:n_val])]


def inner_split(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 90/10 split of the training rows alone (torch.randperm seed 1), for choosing settings
    without looking at the reported validation rows."""
    perm = torch.randperm(len(X_train), generator=torch.Generator().manual_seed(1)).numpy()
    n_val = len(X_train) // 10
    return X_train[np.sort(perm[n_val:])], X_train[np.sort(perm[:n_val])]


def load_token_split(path: Path, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    """(X_train, X_val): SmolLM2 token rows cached by benchmarks/curate_activations.py (`tokens`,
    `token_doc`), the tokens of 10% of the questions held out whole (the same seeded draw as that
    benchmark's token SAE). `standardize`: z-scores per dimension with the training rows' mean and
    std, given to every tool alike (so FVU is over the standardised inputs)."""
    from safetensors.numpy import load_file

    if not path.is_file():
        raise SystemExit(f"{path} is missing: run benchmarks/curate_activations.py --extract-only")
    t = load_file(str(path))
    T, doc = t["tokens"], t["token_doc"]
    n_docs = int(doc.max()) + 1
    is_val = np.isin(doc, np.random.default_rng(0).choice(n_docs, size=n_docs // 10, replace=False))
    X_train, X_val = T[~is_val], T[is_val]
    if standardize:
        mu, sd = X_train.mean(0), X_train.std(0) + 1e-6
        X_train, X_val = (X_train - mu) / sd, (X_val - mu) / sd
    return np.ascontiguousarray(X_train, np.float32), np.ascontiguousarray(X_val, np.float32)


@torch.no_grad()
def measure(encoder: Encoder, X_train: np.ndarray, X_val: np.ndarray, m: int) -> dict[str, float]:
    """val FVU, val L0, and the fraction of latents dead on every training row."""
    sq, fired, l0 = 0.0, torch.zeros(m, dtype=torch.bool), 0.0
    xv = torch.from_numpy(X_val).double()
    for start in range(0, len(X_val), 2048):
        x = torch.from_numpy(X_val[start:start + 2048])
        x_hat, active = encoder(x)
        sq += float((x.double() - x_hat.double()).pow(2).sum())
        l0 += float(active.sum())
    total = float((xv - xv.mean(0)).pow(2).sum())
    for start in range(0, len(X_train), 2048):
        _, active = encoder(torch.from_numpy(X_train[start:start + 2048]))
        fired |= active.any(0)
    return {"fvu": sq / total, "l0": l0 / len(X_val), "dead": float((~fired).float().mean())}


# -- saescope ---------------------------------------------------------------------------------
def run_saescope(X_train, m, k, budget, arch="topk", options=None, overrides=None):
    """`train_sae` at the budget; `overrides`: TrainConfig fields (a "sae" dict for SAEConfig's)."""
    from saescope.sae import SAEConfig, TrainConfig, train_sae

    over = dict(overrides or {})
    # jumprelu's L0 is set by its penalty (`l0_coef`, see --arch-options), not by k.
    sae_cfg = SAEConfig(arch=arch, k=k, num_latents=m, options=dict(options or {}),
                        **over.pop("sae", {}))
    if budget == "equal":
        # Threshold architectures calibrate their inference L0 to k on rows the optimiser
        # never saw, so they keep the trainer's 10% of the training rows out (archs/base.py).
        held = 0.1 if arch in ("batchtopk", "matryoshka", "jumprelu") else 0
        cfg = TrainConfig(sae=sae_cfg, batch_size=BATCH, steps=STEPS, val_fraction=held,
                          device="cpu", **over)
    else:
        cfg = TrainConfig(sae=sae_cfg, device="cpu", **over)
    t0 = time.perf_counter()
    res = train_sae(X_train, cfg, progress=False)
    seconds = time.perf_counter() - t0
    sae = res.sae

    def encoder(x):
        out = sae.encode(x)
        x_hat = sae.decode(out.top_acts, out.top_indices)
        active = torch.zeros(len(x), m, dtype=torch.bool)
        active.scatter_(1, out.top_indices, out.top_acts > 0)
        return x_hat, active

    return encoder, res.metrics["steps"], seconds


# -- sparsify ---------------------------------------------------------------------------------
def run_sparsify(X_train, m, k, budget, optimizer="adam", warmup=None, auxk_alpha=0.0,
                 dead_tokens=None):
    """SparseCoder stepped as sparsify.Trainer.fit steps it (loss_fn fvu, one process).

    warmup, auxk_alpha, dead_tokens: the TrainConfig fields lr_warmup_steps, auxk_alpha and
    dead_feature_threshold (None: sparsify's defaults, 1000 and 10M).
    """
    from sparsify import SparseCoder, SparseCoderConfig
    from sparsify.config import TrainConfig as SpTrainConfig

    if budget != "equal":
        raise ValueError("sparsify has no early stopping: only the equal budget is run")
    extra = {"lr_warmup_steps": warmup} if warmup is not None else {}
    if dead_tokens is not None:
        extra["dead_feature_threshold"] = dead_tokens
    tc = SpTrainConfig(sae=SparseCoderConfig(k=k, num_latents=m), optimizer=optimizer,
                       batch_size=BATCH, log_to_wandb=False, auxk_alpha=auxk_alpha, **extra)
    torch.manual_seed(0)
    sae = SparseCoder(X_train.shape[1], tc.sae, "cpu", dtype=torch.float32)
    opt, sched = _sparsify_optimizer(sae, tc, STEPS)
    since_fired = torch.zeros(m, dtype=torch.long)
    per_epoch = len(X_train) // BATCH
    t0 = time.perf_counter()
    for step in range(STEPS):
        epoch, i = divmod(step, per_epoch)
        if i == 0:  # the trainer expects a pre-shuffled dataset; reshuffle every epoch
            order = torch.randperm(len(X_train), generator=torch.Generator().manual_seed(epoch))
        x = torch.from_numpy(X_train[order[i * BATCH:(i + 1) * BATCH].numpy()])
        if step == 0:
            sae.b_dec.data = x.mean(0)
        sae.set_decoder_norm_to_unit_norm()
        dead = since_fired > tc.dead_feature_threshold if tc.auxk_alpha > 0 else None
        out = sae(x, dead_mask=dead, total_variance=(x - x.mean(0)).pow(2).sum())
        loss = out.fvu + tc.auxk_alpha * out.auxk_loss + out.multi_topk_fvu / 8
        loss.backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        opt.step()
        opt.zero_grad()
        if sched is not None:
            sched.step()
        fired = torch.zeros(m, dtype=torch.bool)
        fired[out.latent_indices.flatten()] = True
        since_fired += len(x)
        since_fired[fired] = 0
    seconds = time.perf_counter() - t0
    if hasattr(opt, "eval"):  # ScheduleFree evaluates at its averaged point
        opt.eval()

    def encoder(x):
        enc = sae.encode(x)
        x_hat = sae.decode(enc.top_acts, enc.top_indices)
        active = torch.zeros(len(x), m, dtype=torch.bool)
        active.scatter_(1, enc.top_indices, enc.top_acts > 0)
        return x_hat, active

    return encoder, STEPS, seconds


def _sparsify_optimizer(sae, tc, total):
    """The optimiser and schedule sparsify.Trainer builds for one SAE."""
    from transformers import get_linear_schedule_with_warmup

    if tc.optimizer == "adam":
        opt = torch.optim.Adam(sae.parameters(), lr=tc.lr or 2e-4 / (sae.num_latents / 2**14) ** 0.5)
        return opt, get_linear_schedule_with_warmup(opt, tc.lr_warmup_steps, total)
    from schedulefree import ScheduleFreeWrapper
    from sparsify.sign_sgd import SignSGD

    opt = ScheduleFreeWrapper(SignSGD(sae.parameters(),
                                      lr=tc.lr or 5e-3 / (sae.num_latents / 2**14) ** 0.5),
                              momentum=0.95)
    opt.train()
    return opt, None


# -- SAELens ---------------------------------------------------------------------------------
SAELENS_ARCHS = {"topk": "TopK", "batchtopk": "BatchTopK", "matryoshka": "MatryoshkaBatchTopK",
                 "jumprelu": "JumpReLU"}
"""saescope arch -> SAELens `<Name>TrainingSAE` / `<Name>TrainingSAEConfig`."""


def saelens_batches(X_train: np.ndarray) -> Iterator[torch.Tensor]:
    """SAELens data provider: endless batches of BATCH rows, reshuffled every epoch (seeded)."""
    per_epoch, epoch = len(X_train) // BATCH, 0
    while True:
        order = torch.randperm(len(X_train), generator=torch.Generator().manual_seed(epoch))
        for i in range(per_epoch):
            yield torch.from_numpy(X_train[order[i * BATCH:(i + 1) * BATCH].numpy()])
        epoch += 1


def run_saelens(X_train, m, k, budget, arch="topk", lr=3e-4, options=None, trainer=None):
    """SAELens 6.x: its `<Arch>TrainingSAE` trained by its own `SAETrainer` for STEPS steps of
    BATCH rows (a data provider over the same vectors), its defaults otherwise: Adam at `lr`
    (its default 3e-4), constant schedule, inputs scaled to mean norm sqrt(d)
    (`expected_average_only_in`, folded into the weights at the end), AuxK coefficient 1 and
    dead window 1000 steps (topk family). Measured through its inference SAE
    (`save_inference_model` + `SAE.load_from_disk`: BatchTopK and Matryoshka become JumpReLU).
    `options`: fields of its training-SAE config; `trainer`: fields of its `SAETrainerConfig`."""
    import tempfile

    import sae_lens
    from sae_lens import SAE
    from sae_lens.training.sae_trainer import SAETrainer, SAETrainerConfig

    if budget != "equal":
        raise ValueError("SAELens is run at the equal budget only")
    name = SAELENS_ARCHS[arch]
    cfg_cls = getattr(sae_lens, f"{name}TrainingSAEConfig")
    extra = dict(options or {})
    if arch == "matryoshka":  # saescope's default prefixes 1/16 .. 1/2 of M, then M
        extra.setdefault("matryoshka_widths", [m // 16, m // 8, m // 4, m // 2, m])
    if arch == "jumprelu":
        extra.setdefault("l0_coefficient", 1.0)
    else:
        extra["k"] = k
    cfg = cfg_cls(d_in=X_train.shape[1], d_sae=m, normalize_activations="expected_average_only_in",
                  **extra)
    torch.manual_seed(0)
    sae = getattr(sae_lens, f"{name}TrainingSAE")(cfg)
    tcfg = SAETrainerConfig(**{"total_training_samples": STEPS * BATCH,
                               "train_batch_size_samples": BATCH, "lr": lr, "lr_end": lr / 10,
                               "n_batches_for_norm_estimate": 20, **(trainer or {})})
    t0 = time.perf_counter()
    SAETrainer(tcfg, sae, saelens_batches(X_train)).fit()
    seconds = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        sae.save_inference_model(tmp)
        inf = SAE.load_from_disk(tmp, device="cpu")

    @torch.no_grad()
    def encoder(x):
        acts = inf.encode(x)
        return inf.decode(acts), acts > 0

    return encoder, STEPS, seconds


# -- HypotheSAEs ------------------------------------------------------------------------------
def _hypothesaes_module():
    spec = importlib.util.find_spec("hypothesaes")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("hypothesaes is not installed (pip install saescope[bench])")
    path = Path(list(spec.submodule_search_locations)[0]) / "sae.py"
    mod_spec = importlib.util.spec_from_file_location("hypothesaes_sae", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


def run_hypothesaes(X_train, m, k, budget):
    hsae = _hypothesaes_module()
    torch.manual_seed(0)
    model = hsae.SparseAutoencoder(X_train.shape[1], m, k, device="cpu")
    X = torch.from_numpy(X_train)
    steps = []
    orig_step = torch.optim.Adam.step

    def counting_step(self, *a, **kw):
        steps.append(1)
        return orig_step(self, *a, **kw)

    torch.optim.Adam.step = counting_step
    t0 = time.perf_counter()
    try:
        if budget == "equal":
            epochs = max(1, round(STEPS / -(-len(X) // BATCH)))  # 20 at 980 steps
            model.fit(X, batch_size=BATCH, n_epochs=epochs, show_progress=False)
        else:
            perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(1))
            n_es = len(X) // 10
            model.fit(X[perm[n_es:]], X_val=X[perm[:n_es]], show_progress=False)
    finally:
        torch.optim.Adam.step = orig_step
    seconds = time.perf_counter() - t0
    model.eval()

    def encoder(x):
        x_hat, info = model(x)
        return x_hat, info["activations"] > 0

    return encoder, len(steps), seconds


TOOLS = {"saescope": run_saescope, "sparsify": run_sparsify, "saelens": run_saelens,
         "hypothesaes": run_hypothesaes}


def main() -> None:
    global STEPS, BATCH
    from saescope.data.models import default_cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="3072x16,3072x32,6144x32", help="latents x k, ...")
    ap.add_argument("--tools", default="saescope,sparsify,hypothesaes")
    ap.add_argument("--budget", default="equal,defaults", help="equal | defaults (see above)")
    ap.add_argument("--default-rows", default="3072x32", help="latents x k for the defaults rows")
    ap.add_argument("--archs", default="topk",
                    help="saescope architectures for the equal rows, e.g. topk,matryoshka,jumprelu")
    ap.add_argument("--arch-options", default="{}",
                    help='saescope options per arch, JSON, e.g. \'{"jumprelu": {"l0_coef": 0.01}}\'')
    ap.add_argument("--saescope-config", default="{}",
                    help='saescope TrainConfig fields, JSON (a "sae" dict for SAEConfig fields), '
                         'e.g. \'{"grad_clip": 0, "sae": {"init_b_dec": "zeros"}}\'')
    ap.add_argument("--inner", action="store_true",
                    help="ablation mode: train on 90%% of the training rows and report on the "
                         "other 10%% (the reported validation rows are not loaded)")
    ap.add_argument("--saelens-archs", default="topk,batchtopk",
                    help="SAELens architectures: topk,batchtopk,matryoshka,jumprelu")
    ap.add_argument("--saelens-lr", type=float, default=3e-4, help="SAELens Adam lr (its default)")
    ap.add_argument("--saelens-options", default="{}",
                    help='SAELens config fields per arch, JSON, e.g. \'{"jumprelu": {"l0_coefficient": 2}}\'')
    ap.add_argument("--saelens-trainer", default="{}",
                    help='SAELens SAETrainerConfig fields, JSON, e.g. \'{"lr_scheduler_name": "cosineannealing"}\'')
    ap.add_argument("--sparsify-optimizer", default="adam", choices=("adam", "signum"))
    ap.add_argument("--sparsify-warmup", type=int, default=None,
                    help="sparsify lr_warmup_steps (default: its 1000)")
    ap.add_argument("--sparsify-auxk", type=float, default=0.0,
                    help="sparsify auxk_alpha (default: its 0)")
    ap.add_argument("--sparsify-dead-tokens", type=int, default=None,
                    help="sparsify dead_feature_threshold (default: its 10M)")
    ap.add_argument("--cache", type=Path,
                    default=default_cache_dir() / "bench" / "mmlu_minilm.parquet")
    ap.add_argument("--tokens", type=Path, default=None,
                    help="instead of --cache: a token-row cache of curate_activations.py "
                         "(mmlu3000_smollm2_L15_tokens.safetensors)")
    ap.add_argument("--standardize", action="store_true",
                    help="with --tokens: z-score every dimension (training rows' statistics)")
    ap.add_argument("--batch", type=int, default=BATCH, help="equal budget: rows per step")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=STEPS, help="equal budget: optimiser steps")
    args = ap.parse_args()
    STEPS, BATCH = args.steps, args.batch
    torch.set_num_threads(args.threads)
    if args.tokens is not None:
        X_train, X_val = load_token_split(args.tokens, args.standardize)
    else:
        X_train, X_val = load_split(args.cache)
    if args.inner:
        X_train, X_val = inner_split(X_train)
    data = f"{args.tokens.name} ({'standardised' if args.standardize else 'raw'})" if args.tokens else "MMLU MiniLM"
    data += " (inner split of the training rows)" if args.inner else ""
    print(f"{data}: {len(X_train)} train / {len(X_val)} val rows, d {X_train.shape[1]}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print("| budget | latents x k | tool | val FVU | val L0 | dead (train) | steps | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for budget in args.budget.split(","):
        rows = (args.rows if budget == "equal" else args.default_rows).split(",")
        for row in rows:
            m, k = map(int, row.lower().split("x"))
            for tool in args.tools.split(","):
                variants = [("topk", {})]
                if tool == "saescope" and budget == "equal":
                    opts = json.loads(args.arch_options)
                    over = json.loads(args.saescope_config)
                    variants = [(a, {"arch": a, "options": opts.get(a), "overrides": over})
                                for a in args.archs.split(",")]
                if tool == "saelens":
                    if budget != "equal":
                        continue
                    opts = json.loads(args.saelens_options)
                    trainer = json.loads(args.saelens_trainer)
                    variants = [(a, {"arch": a, "lr": args.saelens_lr, "options": opts.get(a),
                                     "trainer": trainer})
                                for a in args.saelens_archs.split(",")]
                if tool == "sparsify":
                    if budget != "equal":
                        continue
                    variants = [(args.sparsify_optimizer, {
                        "optimizer": args.sparsify_optimizer, "warmup": args.sparsify_warmup,
                        "auxk_alpha": args.sparsify_auxk, "dead_tokens": args.sparsify_dead_tokens})]
                for label, kw in variants:
                    enc, steps, seconds = TOOLS[tool](X_train, m, k, budget, **kw)
                    r = measure(enc, X_train, X_val, m)
                    name = tool if label in ("topk",) else f"{tool} ({label})"
                    print(f"| {budget} | {m:,} x {k} | {name} | {r['fvu']:.3f} | {r['l0']:.1f} | "
                          f"{r['dead']:.1%} | {steps} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
