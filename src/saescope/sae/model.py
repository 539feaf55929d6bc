"""`SparseAutoencoder`: the module, its checkpoint format and its inference API.

Checkpoint: a folder with `cfg.json` (SAEConfig, with `d_in`) and `sae.safetensors` holding
`encoder.weight` [M, D], `encoder.bias` [M], `W_dec` [M, D], `b_dec` [D] (EleutherAI
sparsify's layout) plus any tensors of the architecture (e.g. a BatchTopK `threshold`).
Weights take raw inputs: any training-time input scale is folded in before saving.

Other layouts (SAELens's) are read by readers their own modules register with
`register_reader`; the model names none of them (`saescope.READER_MODULES` lists the modules
imported on the first load that needs one).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from saescope.errors import InputError
from saescope.io import atomic_path, write_json
from saescope.sae.archs import get_arch
from saescope.sae.config import SAEConfig
from saescope.sae.outputs import EncoderOutput, ForwardOutput

STANDARD_TENSORS = ("encoder.weight", "encoder.bias", "W_dec", "b_dec")

Detect = Callable[[Path], bool]
Read = Callable[[Path, "str | torch.device"], "SparseAutoencoder"]
READERS: dict[str, tuple[Detect, Read]] = {}
"""Folder layouts besides saescope's own that `SparseAutoencoder.load` reads, by name:
(detect(folder) -> bool, read(folder, device) -> SparseAutoencoder)."""


def register_reader(name: str, detect: Detect, read: Read) -> None:
    """Let `SparseAutoencoder.load` read folders `detect` recognises with `read` (the module
    that knows the layout calls this when imported, e.g. `saescope.interop.saelens`)."""
    READERS[name] = (detect, read)


def _reader_for(folder: Path) -> Read | None:
    """The registered reader of `folder`'s layout, the modules of `saescope.READER_MODULES`
    imported first (once: importing registers them)."""
    import saescope

    for module in saescope.READER_MODULES:
        importlib.import_module(module)
    return next((read for detect, read in READERS.values() if detect(folder)), None)


class SparseAutoencoder(nn.Module):
    """A sparse autoencoder over D-dimensional vectors with M latents."""

    def __init__(
        self,
        cfg: SAEConfig,
        d_in: int | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if d_in is not None:
            cfg.d_in = int(d_in)
        if cfg.d_in < 1:
            raise InputError("SAE needs d_in >= 1 (set cfg.d_in or pass d_in)")
        cfg.check_sizes()
        self.cfg = cfg
        d, m = cfg.d_in, cfg.latents_for(cfg.d_in)
        if cfg.expansion_factor is None:  # cfg.json always says what was used (sparsify reads it)
            cfg.expansion_factor = max(1, m // d)
        self.encoder = nn.Linear(d, m, device=device, dtype=dtype)
        # Initialisation (Gao et al. 2024, sec. A.1): unit-norm random decoder rows, the encoder
        # its transpose (encoder.weight [M, D] is W_enc, equal to W_dec [M, D]), zero biases.
        W = torch.randn(m, d, generator=generator, dtype=torch.float32)
        W = (W / W.norm(dim=-1, keepdim=True)).to(device=device, dtype=dtype)
        self.W_dec = nn.Parameter(W.clone())
        self.b_dec = nn.Parameter(torch.zeros(d, device=device, dtype=dtype))
        with torch.no_grad():
            self.encoder.weight.copy_(W)
            self.encoder.bias.zero_()
        self.arch = get_arch(cfg.arch)(cfg)
        self.arch.add_tensors(self)

    # -- shape ---------------------------------------------------------------------------
    @property
    def d_in(self) -> int:
        return self.cfg.d_in

    @property
    def num_latents(self) -> int:
        return self.W_dec.shape[0]

    @property
    def device(self) -> torch.device:
        return self.W_dec.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W_dec.dtype

    # -- inference -----------------------------------------------------------------------
    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU(W_enc (x - b_dec) + b_enc), dense [B, M]."""
        return F.relu(self.encoder(x - self.b_dec))

    def encode(self, x: torch.Tensor) -> EncoderOutput:
        """Sparse codes of raw inputs x [B, D] (inference; batch-independent for every arch)."""
        self._check_dim(x)
        return self.arch.encode(self, x.to(self.dtype))

    def decode(self, top_acts: torch.Tensor, top_indices: torch.Tensor) -> torch.Tensor:
        """x_hat [B, D] from sparse codes: gather-and-sum of the active decoder rows + b_dec."""
        y = F.embedding_bag(top_indices, self.W_dec,
                            per_sample_weights=top_acts.to(self.dtype), mode="sum")
        return self.arch.output(y + self.b_dec)

    def forward(self, x: torch.Tensor) -> ForwardOutput:
        """Encode, decode and the batch FVU (see `saescope.sae.metrics.fvu`)."""
        from saescope.sae.metrics import fvu

        out = self.encode(x)
        x_hat = self.decode(out.top_acts, out.top_indices)
        return ForwardOutput(x_hat, out.top_acts, out.top_indices, fvu(x, x_hat))

    def _check_dim(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[-1] != self.d_in:
            raise InputError(
                f"input has shape {tuple(x.shape)}, the SAE expects [N, {self.d_in}] (d_in)"
            )

    # -- training helpers ----------------------------------------------------------------
    @torch.no_grad()
    def set_decoder_norm_to_unit_norm(self) -> None:
        """Rescale decoder rows to unit L2 norm."""
        eps = torch.finfo(self.W_dec.dtype).eps
        self.W_dec.div_(self.W_dec.norm(dim=-1, keepdim=True) + eps)

    @torch.no_grad()
    def remove_gradient_parallel_to_decoder_directions(self) -> None:
        """Project out the component of each decoder row's gradient along the row.

        With unit-norm rows, that component only changes the norm, which the renormalisation
        undoes; removing it keeps Adam's statistics for the useful direction (Bricken et al.
        2023, "Towards Monosemanticity"; Gao et al. 2024).
        """
        if self.W_dec.grad is None:
            return
        parallel = (self.W_dec.grad * self.W_dec).sum(-1, keepdim=True)
        self.W_dec.grad.sub_(parallel * self.W_dec)

    # -- checkpoint ----------------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        """All tensors of the checkpoint (standard four first, then the architecture's)."""
        state = {k: v.detach() for k, v in self.state_dict().items()}
        ordered = {k: state.pop(k) for k in STANDARD_TENSORS}
        ordered.update(state)
        return ordered

    def save(self, folder: str | Path) -> None:
        """Write `sae.safetensors`, then `cfg.json` (both atomically) into `folder`."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous().cpu() for k, v in self.tensors().items()}
        with atomic_path(folder / "sae.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt"})
        write_json(folder / "cfg.json", self.cfg.to_dict())

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> SparseAutoencoder:
        """Load a checkpoint folder (ours, sparsify's or SAELens's); dtype is read back from the file.

        The parameters are loaded with requires_grad False (an inference object).
        """
        from saescope.io import read_checkpoint

        folder = Path(folder)
        cfg_path, w_path = folder / "cfg.json", folder / "sae.safetensors"
        read = None if w_path.is_file() else _reader_for(folder)
        if read is not None:  # another layout (SAELens: cfg.json + sae_weights.safetensors)
            return read(folder, device)
        for p in (cfg_path, w_path):
            if not p.is_file():
                raise InputError(f"{folder}: not an SAE folder ({p.name} missing)")
        raw, tensors = read_checkpoint(cfg_path, w_path, STANDARD_TENSORS)
        from saescope.errors import ConfigError

        try:
            SAEConfig.from_dict(raw, strict=False)  # field by field, before any value is used
            d_in = int(raw.get("d_in") or tensors["W_dec"].shape[1])
            cfg = SAEConfig.from_dict({**raw, "d_in": d_in}, strict=False)
        except ConfigError as exc:
            raise InputError(f"{cfg_path}: {exc}") from None
        if d_in != tensors["W_dec"].shape[1]:
            raise InputError(f"{cfg_path}: field 'd_in' is {d_in}, the weights in {w_path.name} "
                             f"are {tensors['W_dec'].shape[1]}-dimensional")
        m = tensors["W_dec"].shape[0]
        if cfg.latents_for(d_in) != m:  # sparsify may leave num_latents at 0 with another M
            cfg.num_latents = m
        dtype = tensors["W_dec"].dtype
        sae = cls(cfg, device="cpu", dtype=dtype)
        expected = set(sae.state_dict())
        extra = sorted(set(tensors) - expected)
        if extra:
            raise InputError(f"{w_path}: unexpected tensor(s) {', '.join(extra)} for arch {cfg.arch}")
        try:
            sae.load_state_dict({k: tensors[k] for k in expected if k in tensors}, strict=False)
        except RuntimeError as exc:
            raise InputError(f"{w_path}: tensor shapes do not match cfg.json ({exc})") from None
        absent = sorted(expected - set(tensors))
        if absent:
            raise InputError(f"{w_path}: missing tensor(s) {', '.join(absent)} for arch {cfg.arch}")
        # An inference object: outputs convert with .numpy() without detach (set
        # requires_grad_(True) again to differentiate through the SAE).
        return sae.requires_grad_(False).to(device)
