"""SAELens's SAE folder, both ways (written against `sae-lens` 6.x; checked with 6.54.12).

SAELens layout (`sae_lens/saes/sae.py`, `SAE.save_model` / `SAE.load_from_disk`): a folder with
`cfg.json` (`architecture`, `d_in`, `d_sae`, `dtype`, `device`, `apply_b_dec_to_input`,
`normalize_activations`, `reshape_activations`, `metadata` with `sae_lens_version`, and per
architecture `k` + `rescale_acts_by_decoder_norm` for `topk`) and `sae_weights.safetensors`
with `W_enc` [d_in, d_sae], `b_enc` [d_sae], `W_dec` [d_sae, d_in], `b_dec` [d_in] and, for
`jumprelu`, `threshold` [d_sae]. Its encoders, with h = (x - b_dec * apply_b_dec_to_input) W_enc + b_enc:

- `standard`: ReLU(h) (saescope `relu`, identity decoder output);
- `topk`: ReLU of the k largest of h * ||W_dec,i|| if `rescale_acts_by_decoder_norm`, else of h
  (saescope `topk`; the decoder norms are folded into W_enc, b_enc and W_dec on import,
  as SAELens's own `fold_W_dec_norm` does, which leaves the codes unchanged);
- `jumprelu`: ReLU(h) * [h > threshold_i]. SAELens saves its BatchTopK SAEs this way, with one
  threshold repeated over the latents. saescope `batchtopk` (a scalar threshold t >= 0,
  a = ReLU(h) [ReLU(h) > t]) exports as that; on import, equal non-negative thresholds give
  `batchtopk` (and Matryoshka's `matryoshka`, same inference, exports the same way), positive
  per-latent ones saescope's `jumprelu` (a = ReLU(z [z > exp(log_threshold)])) when it is
  registered, others `reward` with its gates set so that they open exactly where
  h > threshold_i (logit h - threshold_i).
  saescope `reward` exports as `jumprelu`: its gate exp(s_i) z_i + c_i > 0, z = h - b_enc,
  is h > b_enc,i - c_i exp(-s_i).

Input scaling: saescope folds its training-time input scale into the weights before saving,
so exports say `normalize_activations: "none"`. On import, `expected_average_only_in` is kept
as SAELens keeps it (its loader applies no scale at run time: the caller scales inputs), with a
warning; `constant_norm_rescale`, `layer_norm` and `covariance_whitening` transform each input
at run time and are refused. `apply_b_dec_to_input: false` is folded into b_enc
(b_enc + b_dec W_enc). Gated, AbsTopK, Matryoshka (saved as jumprelu after training: supported
then), matching pursuit, transcoders and hook_z reshaping are refused with their name.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from saescope.errors import InputError
from saescope.io import atomic_path, write_json
from saescope.sae.model import STANDARD_TENSORS, SparseAutoencoder, register_reader

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
SAE_LENS_FORMAT_VERSION = "6.0.0"
"""`metadata.sae_lens_version` written: SAELens reads configs older than 6.0 another way."""
_RUNTIME_NORMS = ("constant_norm_rescale", "layer_norm", "covariance_whitening")
_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
           "bfloat16": torch.bfloat16}


def is_saelens_folder(folder: str | Path) -> bool:
    """True if `folder` holds SAELens's files (and not saescope's/sparsify's `sae.safetensors`)."""
    folder = Path(folder)
    return (folder / WEIGHTS_FILE).is_file() and (folder / CFG_FILE).is_file() \
        and not (folder / "sae.safetensors").is_file()


# ---------------------------------------------------------------------------- export
def saelens_tensors(sae: SparseAutoencoder) -> tuple[str, dict[str, torch.Tensor], dict[str, Any]]:
    """(architecture, SAELens tensors, architecture-specific cfg fields) of a saescope SAE."""
    arch = sae.cfg.arch
    W_enc = sae.encoder.weight.detach().T.contiguous()
    b_enc = sae.encoder.bias.detach().clone()
    tensors = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": sae.W_dec.detach().clone(),
               "b_dec": sae.b_dec.detach().clone()}
    if arch == "topk":
        return "topk", tensors, {"k": int(sae.cfg.k), "rescale_acts_by_decoder_norm": False}
    if arch == "relu":
        if sae.cfg.options.get("decoder_activation", "identity") != "identity":
            raise InputError(
                f"relu SAE with decoder_activation={sae.cfg.options['decoder_activation']!r} has "
                "no SAELens equivalent (SAELens decoders are linear)")
        return "standard", tensors, {}
    scalar = getattr(sae, "threshold", None)
    if arch in ("batchtopk", "matryoshka") and scalar is not None and scalar.numel() == 1:
        t = float(scalar.clamp_min(0))  # -1 = never estimated: plain ReLU, threshold 0
        tensors["threshold"] = torch.full_like(b_enc, t)
        return "jumprelu", tensors, {}
    if arch == "reward":
        tensors["threshold"] = b_enc - sae.gate_bias.detach() * torch.exp(-sae.gate_log_scale.detach())
        return "jumprelu", tensors, {}
    if arch == "jumprelu" and getattr(sae, "log_threshold", None) is not None:
        # saescope's jumprelu: a = ReLU(z [z > exp(log_threshold)]), SAELens's with theta > 0
        tensors["threshold"] = sae.log_threshold.detach().double().exp().to(b_enc.dtype)
        return "jumprelu", tensors, {}
    raise InputError(f"arch {arch!r} has no SAELens export (supported: topk, batchtopk, "
                     "matryoshka, relu, reward, jumprelu)")


def export_saelens(sae: SparseAutoencoder, out: str | Path, metadata: dict[str, Any] | None = None
                   ) -> Path:
    """Write `sae` as an SAELens folder (weights, then `cfg.json` last); returns `out`.

    `metadata`: extra `cfg.json` metadata (e.g. `model_name`, `hook_name`, `dataset_path`).
    """
    from safetensors.torch import save_file

    from saescope import __version__

    architecture, tensors, extra = saelens_tensors(sae)
    dtype = str(sae.dtype).removeprefix("torch.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file({k: v.to(sae.dtype).contiguous().cpu() for k, v in tensors.items()}, str(tmp))
    meta = {"sae_lens_version": SAE_LENS_FORMAT_VERSION, "sae_lens_training_version": None,
            "exported_by": f"saescope {__version__}", "saescope_arch": sae.cfg.arch,
            **(metadata or {})}
    cfg = {"architecture": architecture, "d_in": int(sae.d_in), "d_sae": int(sae.num_latents),
           "dtype": dtype, "device": "cpu", "apply_b_dec_to_input": True,
           "normalize_activations": "none", "reshape_activations": "none", **extra,
           "metadata": meta}
    write_json(out / CFG_FILE, cfg)
    return out


# ---------------------------------------------------------------------------- import
def _read(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    from saescope.io import read_checkpoint

    return read_checkpoint(folder / CFG_FILE, folder / WEIGHTS_FILE, ("W_enc", "b_enc", "W_dec", "b_dec"))


def _architecture(cfg: dict[str, Any], cfg_path: Path) -> tuple[str, int | None]:
    """SAELens architecture name and k, reading pre-6.0 configs as SAELens does."""
    arch = cfg.get("architecture", "standard")
    k = cfg.get("k")
    if cfg.get("activation_fn", cfg.get("activation_fn_str")) == "topk":  # pre-6.0 topk
        arch, k = "topk", (cfg.get("activation_fn_kwargs") or {}).get("k", k)
    if arch not in ("standard", "topk", "jumprelu"):
        raise InputError(f"{cfg_path}: SAELens architecture {arch!r} is not supported by saescope "
                         "(supported: standard, topk, jumprelu)")
    if arch == "topk" and not k:
        raise InputError(f"{cfg_path}: topk SAE without `k`")
    return arch, (int(k) if k else None)


def _check_cfg(cfg: dict[str, Any], tensors: dict[str, torch.Tensor], folder: Path) -> None:
    cfg_path = folder / CFG_FILE
    norm = cfg.get("normalize_activations", "none")
    if norm in _RUNTIME_NORMS:
        raise InputError(f"{cfg_path}: normalize_activations={norm!r} transforms each input at "
                         "run time; saescope SAEs take raw inputs (fold it first)")
    if norm == "expected_average_only_in":
        warnings.warn(f"{cfg_path}: normalize_activations='expected_average_only_in': the SAE "
                      "expects inputs scaled by its training factor (SAELens does not apply it "
                      "either); scale inputs before encoding", stacklevel=3)
    if cfg.get("reshape_activations", "none") not in ("none", None):
        raise InputError(f"{cfg_path}: reshape_activations={cfg['reshape_activations']!r} "
                         "(hook_z SAEs) is not supported")
    scale = tensors.get("scaling_factor", tensors.get("finetuning_scaling_factor"))
    if scale is not None and not torch.allclose(scale, torch.ones_like(scale)):
        raise InputError(f"{folder / WEIGHTS_FILE}: finetuning scaling factor is not supported")
    W_enc, W_dec = tensors["W_enc"], tensors["W_dec"]
    d, m = W_enc.shape
    if W_dec.shape != (m, d) or tensors["b_enc"].shape != (m,) or tensors["b_dec"].shape != (d,):
        raise InputError(f"{folder / WEIGHTS_FILE}: tensor shapes do not match (W_enc {tuple(W_enc.shape)}, "
                         f"W_dec {tuple(W_dec.shape)})")
    for key, size in (("d_in", d), ("d_sae", m)):
        if key in cfg and int(cfg[key]) != size:
            raise InputError(f"{cfg_path}: {key}={cfg[key]} but the weights have {size}")


def _jumprelu_target(threshold: torch.Tensor) -> str:
    """saescope architecture that reproduces SAELens JumpReLU codes with these thresholds.

    One non-negative threshold: `batchtopk`. Positive per-latent ones: saescope's `jumprelu`
    (thresholds stored as `log_threshold`) when it is registered. Otherwise `reward`, whose
    gates (logit z + b_enc - threshold with a zero log-scale) open exactly where h > threshold.
    """
    from saescope.sae.archs import names

    if threshold.numel() and bool((threshold == threshold[0]).all()) and float(threshold[0]) >= 0:
        return "batchtopk"
    if "jumprelu" in names() and bool((threshold > 0).all()):
        return "jumprelu"
    return "reward"


def load_saelens(folder: str | Path, device: str | torch.device = "cpu") -> SparseAutoencoder:
    """A saescope SAE giving the codes SAELens's `SAE.load_from_disk(folder).encode(x)` gives."""
    from saescope.sae.config import SAEConfig

    folder = Path(folder)
    cfg, t = _read(folder)
    arch, k = _architecture(cfg, folder / CFG_FILE)
    _check_cfg(cfg, t, folder)
    dtype = _DTYPES.get(str(cfg.get("dtype", "")).removeprefix("torch."), t["W_dec"].dtype)
    t = {key: v.to(torch.float64) for key, v in t.items()}  # fold in float64, cast once at the end
    W_enc, b_enc, W_dec, b_dec = t["W_enc"], t["b_enc"], t["W_dec"], t["b_dec"]
    if not cfg.get("apply_b_dec_to_input", True):
        b_enc = b_enc + b_dec @ W_enc  # h = x W_enc + b_enc = (x - b_dec) W_enc + (b_enc + b_dec W_enc)
    d, m = W_enc.shape
    extra: dict[str, torch.Tensor] = {}
    if arch == "topk":
        if cfg.get("rescale_acts_by_decoder_norm", False):
            n = W_dec.norm(dim=-1).clamp_min(1e-8)
            W_enc, b_enc, W_dec = W_enc * n, b_enc * n, W_dec / n[:, None]
        target = "topk"
    elif arch == "standard":
        target = "relu"
    else:
        if "threshold" not in t:
            raise InputError(f"{folder / WEIGHTS_FILE}: jumprelu SAE without `threshold`")
        th = t["threshold"].reshape(-1).expand(m) if t["threshold"].numel() == 1 else t["threshold"]
        target = _jumprelu_target(th)
        if target == "batchtopk":
            extra["threshold"] = th[0].clone()
        elif target == "jumprelu":
            extra["log_threshold"] = th.log()
        else:
            extra["gate_log_scale"] = torch.zeros(m, dtype=torch.float64)
            extra["gate_bias"] = b_enc - th
    sae_cfg = SAEConfig(arch=target, k=min(k or 32, m), num_latents=m, d_in=d,
                        normalize_decoder=False if target != "topk" else None)
    sae = SparseAutoencoder(sae_cfg, dtype=dtype)
    state = {"encoder.weight": W_enc.T, "encoder.bias": b_enc, "W_dec": W_dec, "b_dec": b_dec,
             **extra}
    current = sae.state_dict()  # tensors not set here (e.g. jumprelu's l0_coef) keep their init
    if not set(state) <= set(current) or any(k not in state for k in STANDARD_TENSORS):
        raise InputError(f"{folder}: cannot map onto saescope arch {target!r} "
                         f"(tensors {sorted(state)} vs {sorted(current)})")
    current.update({key: v.to(dtype).reshape(current[key].shape) for key, v in state.items()})
    sae.load_state_dict(current)
    return sae.requires_grad_(False).to(device)


register_reader("saelens", is_saelens_folder, load_saelens)
