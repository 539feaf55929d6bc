"""LLM activations: the residual stream after a transformer block, pooled per document or per token.

Layer numbering: `layer=L` is the output of decoder block L, counting blocks from 0 (so for
L < num_layers - 1 it equals `hidden_states[L + 1]` of a forward with
`output_hidden_states=True`; `hidden_states[0]` is the token embeddings; for the last block
transformers applies the final norm to `hidden_states[-1]`, while the hook reads the raw block
output). Negative L counts from the last block. The forward stops after the deepest requested block.

Tokens: texts are tokenised with truncation to `max_tokens`, sorted by length into batches
(padding only within similar lengths), padded on the right (so real tokens keep positions
0..n-1 and match an unpadded forward), and padding is masked out of every pooling. A leading
BOS token, when the tokenizer adds one, is excluded: it carries no content.

Massive activations: in LLMs a few residual dimensions take values thousands of times the
median on the first token of every sequence (whatever that token is: the model uses it as an
attention sink) and on some delimiters (Sun, Chen, Kolter & Liu, "Massive Activations in Large
Language Models", COLM 2024, arXiv:2402.17762; Xiao et al., "Efficient Streaming Language
Models with Attention Sinks", ICLR 2024, arXiv:2309.17453). Pooled into a document vector,
they put almost all the variance in those dimensions (SmolLM2-135M, layer 15: one dimension
held 98.4% of it), so cosines and SAEs see little else. The field's remedy, followed here
(`skip_first`, on by default): leave the first position out of pooling (and of per-token
output) whenever the document has another token; BOS tokens are always left out.
`dominant_dimensions` measures what is left and is logged as a warning when a few dimensions
still hold most of the variance.

Poolings, over a document's valid tokens t = 1..n with vectors h_t in R^d:
- `mean`: (1/n) sum_t h_t
- `max`: elementwise max_t h_t[j] for every dimension j
- `last`: h_n (the last real token, which in a causal LM has attended to the whole text)
- `topk`: FineScope's "top-K activation selection" ("FineScope: Precision Pruning for
  Domain-Specialized Large Language Models Using SAE-Guided Self-Data Cultivation", 2025). That
  wording names the operation but not what is ranked (tokens or dimensions) nor how the
  selected activations become one vector per document. We define it as:
  per document, select the min(K, n) tokens with the largest L2 norm ||h_t||_2, and return the
  mean of their full vectors. All d dimensions are kept in their original order, so the
  result lives in the same space as the other poolings and can feed an SAE; no dimension or
  index is dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from saescope.errors import ConfigError, InputError

log = logging.getLogger(__name__)

POOLINGS = ("mean", "max", "last", "topk")


class _StopForward(Exception):
    """Raised by the hook of the deepest requested block to skip the rest of the model."""


def decoder_layers(model: Any) -> Any:
    """The ModuleList of decoder blocks of a causal LM (LLaMA, Gemma, GPT-2, GPT-NeoX, ...)."""
    import torch.nn as nn

    for path in ("model.layers", "model.model.layers", "transformer.h", "gpt_neox.layers",
                 "model.decoder.layers", "layers"):
        obj = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return obj
    n = getattr(model.config, "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise ConfigError(f"cannot find the decoder blocks of {type(model).__name__}")


@dataclass
class TokenBatch:
    """Per-token activations of some documents (valid tokens only, in document order)."""

    doc_index: np.ndarray
    """int64 [T] index of each token's document in the input list."""
    position: np.ndarray
    """int32 [T] position of the token in its tokenised document (BOS, if any, is 0)."""
    token_id: np.ndarray
    """int64 [T] vocabulary id."""
    vectors: dict[int, np.ndarray]
    """layer -> float32 [T, d]."""


class ActivationExtractor:
    """Hidden states of a causal LM after chosen blocks, pooled per document or per token."""

    def __init__(
        self,
        model: str = "smollm2",
        layers: Sequence[int] | int | None = None,
        pooling: str = "mean",
        top_k: int = 8,
        max_tokens: int = 512,
        batch_size: int = 16,
        device: str = "auto",
        model_and_tokenizer: tuple[Any, Any] | None = None,
        skip_first: bool = True,
    ) -> None:
        """`model`: `smollm2`, a model folder or a hub name; `model_and_tokenizer` reuses a
        loaded pair (from `saescope.data.models.load_causal_lm`). `layers` default: the middle
        block. `skip_first`: leave each document's first position (the attention sink, where
        the massive activations sit) out of pooling when it has another token."""
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if top_k < 1 or max_tokens < 1 or batch_size < 1:
            raise ConfigError("top_k, max_tokens and batch_size must be >= 1")
        if model_and_tokenizer is None:
            from saescope.data.models import load_causal_lm

            model_and_tokenizer = load_causal_lm(model, device=device)
        self.model, self.tokenizer = model_and_tokenizer
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model_name = model
        self.blocks = decoder_layers(self.model)
        self.num_layers = len(self.blocks)
        self.hidden_size = int(self.model.config.hidden_size)
        if layers is None:
            layers = [self.num_layers // 2]
        elif isinstance(layers, int):
            layers = [layers]
        resolved = []
        for layer in layers:
            if not -self.num_layers <= layer < self.num_layers:
                raise ConfigError(
                    f"layer {layer} out of range: the model has {self.num_layers} blocks "
                    f"(0..{self.num_layers - 1}, or negative from the end)"
                )
            resolved.append(layer % self.num_layers)
        if len(set(resolved)) != len(resolved):
            raise ConfigError(f"layers repeat: {list(layers)}")
        self.layers: list[int] = resolved
        self.pooling = pooling
        self.top_k = top_k
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.skip_first = skip_first
        self.device = next(self.model.parameters()).device
        bos = self.tokenizer.bos_token_id
        probe = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        self.bos_id: int | None = bos if bos is not None and probe and probe[0] == bos else None

    def fingerprint(self) -> str:
        """What determines the vectors, for resume checks and output metadata."""
        path = getattr(self.model, "name_or_path", "") or self.model_name
        return (
            f"act:{self.model_name}:{path}:layers={self.layers}:pool={self.pooling}:"
            f"k={self.top_k}:T={self.max_tokens}" + ("" if self.skip_first else ":keep_first")
        )

    # --- core ------------------------------------------------------------------------------

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        enc = self.tokenizer(
            list(texts), add_special_tokens=True, truncation=True, max_length=self.max_tokens
        )
        ids = enc["input_ids"]
        for i, seq in enumerate(ids):
            if len(seq) - (1 if self.bos_id is not None and seq and seq[0] == self.bos_id else 0) < 1:
                raise InputError(f"document {i} has no tokens (empty text?)")
        return ids

    def _batches(self, ids: list[list[int]]) -> Iterator[np.ndarray]:
        """Document indices per batch, longest documents first (OOM shows up early)."""
        order = np.argsort([-len(s) for s in ids], kind="stable")
        for start in range(0, len(order), self.batch_size):
            yield order[start : start + self.batch_size]

    def _forward(self, seqs: list[list[int]]) -> tuple[dict[int, Any], Any, Any]:
        """({layer: hidden [B, T, d]}, input_ids [B, T], valid mask [B, T]) for one batch."""
        import torch

        T = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(seqs), T), pad, dtype=torch.long)
        attn = torch.zeros((len(seqs), T), dtype=torch.long)
        for i, s in enumerate(seqs):
            input_ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            attn[i, : len(s)] = 1
        input_ids, attn = input_ids.to(self.device), attn.to(self.device)
        captured: dict[int, Any] = {}
        deepest = max(self.layers)

        def make_hook(layer: int):
            def hook(_module: Any, _inputs: Any, output: Any) -> None:
                captured[layer] = output[0] if isinstance(output, tuple) else output
                if layer == deepest:
                    raise _StopForward

            return hook

        handles = [self.blocks[layer].register_forward_hook(make_hook(layer)) for layer in self.layers]
        base = self.model.get_decoder() if hasattr(self.model, "get_decoder") else self.model
        try:
            with torch.inference_mode():
                base(input_ids=input_ids, attention_mask=attn, use_cache=False)
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        valid = attn.bool()
        if self.bos_id is not None:
            valid[:, 0] &= input_ids[:, 0] != self.bos_id
        if self.skip_first:
            valid[:, 0] &= valid[:, 1:].sum(dim=1) == 0  # keep it only in one-token documents
        return {k: v.float() for k, v in captured.items()}, input_ids, valid

    def pool(self, H: Any, valid: Any) -> Any:
        """Pool hidden states [B, T, d] over valid tokens [B, T] -> [B, d] (see module doc)."""
        import torch

        m = valid.unsqueeze(-1)
        n = valid.sum(dim=1).clamp(min=1)
        if self.pooling == "mean":
            return (H * m).sum(dim=1) / n.unsqueeze(-1)
        if self.pooling == "max":
            return H.masked_fill(~m, float("-inf")).max(dim=1).values
        if self.pooling == "last":
            pos = torch.arange(H.shape[1], device=H.device).expand_as(valid)
            last = torch.where(valid, pos, -1).max(dim=1).values
            return H[torch.arange(H.shape[0], device=H.device), last]
        # topk: the min(K, n) valid tokens of largest L2 norm, mean of their full vectors.
        norms = H.norm(dim=-1).masked_fill(~valid, float("-inf"))
        k = min(self.top_k, H.shape[1])
        idx = norms.topk(k, dim=1).indices  # [B, k], by decreasing norm
        take = torch.arange(k, device=H.device).unsqueeze(0) < n.clamp(max=k).unsqueeze(1)
        sel = H.gather(1, idx.unsqueeze(-1).expand(-1, -1, H.shape[-1]))
        return (sel * take.unsqueeze(-1)).sum(dim=1) / take.sum(dim=1, keepdim=True)

    def pooled(self, texts: Sequence[str], progress: bool = False) -> dict[int, np.ndarray]:
        """{layer: float32 [N, d]} pooled vectors of `texts`, in input order."""
        ids = self._tokenize(texts)
        out = {layer: np.zeros((len(ids), self.hidden_size), np.float32) for layer in self.layers}
        bar = tqdm(total=len(ids), desc="activations", unit="doc", disable=not progress)
        for batch in self._batches(ids):
            hidden, _, valid = self._forward([ids[i] for i in batch])
            for layer, H in hidden.items():
                out[layer][batch] = self.pool(H, valid).cpu().numpy()
            bar.update(len(batch))
        bar.close()
        return out

    def per_token(self, texts: Sequence[str], progress: bool = False) -> TokenBatch:
        """Activations of every valid token of `texts` (documents in input order)."""
        ids = self._tokenize(texts)
        docs: dict[int, tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]] = {}
        bar = tqdm(total=len(ids), desc="activations", unit="doc", disable=not progress)
        for batch in self._batches(ids):
            hidden, input_ids, valid = self._forward([ids[i] for i in batch])
            valid_np = valid.cpu().numpy()
            ids_np = input_ids.cpu().numpy()
            host = {layer: H.cpu().numpy() for layer, H in hidden.items()}
            for row, doc in enumerate(batch):
                pos = np.flatnonzero(valid_np[row])
                docs[int(doc)] = (pos, ids_np[row, pos], {k: v[row, pos] for k, v in host.items()})
            bar.update(len(batch))
        bar.close()
        order = range(len(ids))
        return TokenBatch(
            doc_index=np.concatenate([np.full(len(docs[i][0]), i, np.int64) for i in order]),
            position=np.concatenate([docs[i][0] for i in order]).astype(np.int32),
            token_id=np.concatenate([docs[i][1] for i in order]).astype(np.int64),
            vectors={
                layer: np.concatenate([docs[i][2][layer] for i in order]).astype(np.float32)
                for layer in self.layers
            },
        )


def variance_shares(X: np.ndarray) -> np.ndarray:
    """Each dimension's share of the total variance of the rows of X, largest first (float64)."""
    var = np.asarray(X, dtype=np.float64).var(axis=0)
    total = var.sum()
    return np.sort(var / total)[::-1] if total > 0 else np.zeros_like(var)


def dominant_dimensions(X: np.ndarray, top: int = 3, share: float = 0.5) -> str | None:
    """A warning text when the `top` highest-variance dimensions of X hold more than `share` of
    its total variance (massive activations, see the module docstring), else None.

    Cosines and SAE reconstruction errors are then dominated by those dimensions: an FVU near 0
    means the SAE learnt them, not the rest. Isotropic 384-d data gives about 3 x 0.26%.
    """
    if X.ndim != 2 or len(X) < 2 or X.shape[1] <= top:
        return None
    var = np.asarray(X, dtype=np.float64).var(axis=0)
    if var.sum() <= 0:
        return None
    dims = np.argsort(-var, kind="stable")[:top]
    held = float(var[dims].sum() / var.sum())
    if held <= share:
        return None
    parts = ", ".join(f"{int(d)} ({var[d] / var.sum():.1%})" for d in dims)
    return (f"{top} of {X.shape[1]} dimensions hold {held:.1%} of the variance: {parts}. "
            "LLM activations with massive activations? Leave the first token out of pooling "
            "(saescope's default) or standardise the dimensions before training an SAE.")


def layer_output_paths(out: str | Path, layers: Sequence[int]) -> dict[int, Path]:
    """One output per layer: `out` itself for one layer, else `<stem>-layer<L><suffix>`."""
    out = Path(out)
    if len(layers) == 1:
        return {layers[0]: out}
    return {layer: out.with_name(f"{out.stem}-layer{layer}{out.suffix}") for layer in layers}


def extract_table(
    table: pa.Table,
    out_path: str | Path,
    extractor: ActivationExtractor,
    text_field: str = "text",
    per_token: bool = False,
    shard_size: int = 1024,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[int, Path]:
    """Write activations of `table[text_field]` in the vector Parquet layout, one output per layer.

    Pooled (default): one row per document, `id`, `embedding`, then the passthrough columns
    (same layout as `saescope embed`). `per_token`: one row per token, `id` (`<doc_id>:<pos>`),
    `doc_id`, `position`, `token`, `token_id`, `embedding`. Resumable by shard.
    """
    from saescope.data.embed import vector_table
    from saescope.data.shards import ShardedWriter, vectors_to_arrow

    for name in (text_field, "id"):
        if name not in table.column_names:
            raise InputError(f"no column {name!r} (columns: {', '.join(table.column_names)})")
    outs = layer_output_paths(out_path, extractor.layers)
    meta = {
        "model": extractor.model_name,
        "hidden_size": str(extractor.hidden_size),
        "pooling": "none (per token)" if per_token else extractor.pooling,
        "top_k": str(extractor.top_k),
        "max_tokens": str(extractor.max_tokens),
        "bos_excluded": str(extractor.bos_id is not None),
        "first_token_excluded": str(extractor.skip_first),
    }
    warned: set[int] = set()

    def with_meta(t: pa.Table, layer: int) -> pa.Table:
        kv = {f"saescope.{k}".encode(): v.encode() for k, v in meta.items()}
        kv[b"saescope.layer"] = str(layer).encode()
        return t.replace_schema_metadata({**(t.schema.metadata or {}), **kv})

    def compute(shard: pa.Table) -> dict[str, pa.Table]:
        texts = shard[text_field].to_pylist()
        try:
            if not per_token:
                pooled = extractor.pooled(texts)
                for k, X in pooled.items():
                    msg = None if k in warned else dominant_dimensions(X)
                    if msg and len(X) >= 64:
                        warned.add(k)
                        log.warning("%s, layer %s: %s", out_path, k, msg)
                return {str(k): with_meta(vector_table(shard, X), k) for k, X in pooled.items()}
            tb = extractor.per_token(texts)
        except InputError as exc:
            raise InputError(f"{exc} in shard starting at id {shard['id'][0]}") from None
        doc_ids = shard["id"].cast(pa.string()).take(pa.array(tb.doc_index))
        tokens = extractor.tokenizer.batch_decode([[t] for t in tb.token_id.tolist()])
        row_ids = [f"{d}:{p}" for d, p in zip(doc_ids.to_pylist(), tb.position.tolist(), strict=True)]
        result = {}
        for layer, X in tb.vectors.items():
            t = pa.table(
                {
                    "id": pa.array(row_ids, pa.string()),
                    "embedding": vectors_to_arrow(X),
                    "doc_id": doc_ids,
                    "position": pa.array(tb.position, pa.int32()),
                    "token": pa.array(tokens, pa.string()),
                    "token_id": pa.array(tb.token_id, pa.int64()),
                }
            )
            result[str(layer)] = with_meta(t, layer)
        return result

    fingerprint = hashlib.sha256(f"{extractor.fingerprint()}:per_token={per_token}".encode()).hexdigest()
    writer = ShardedWriter({str(k): v for k, v in outs.items()}, shard_size=shard_size,
                           overwrite=overwrite)
    writer.run(table, compute, fingerprint=fingerprint, id_columns=("id", text_field),
               progress=progress, desc="activations")
    return outs
