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

Compute dtype (`dtype`): `float32` runs the model as loaded; `bfloat16` runs its matrix
products under `torch.autocast` in bfloat16 (weights stay float32, the residual stream adds in
float32), as the field commonly extracts activations (sparsify and SAELens run models in
bf16). On CPUs with AMX / AVX512-BF16 it is about 3x faster at block 15 of SmolLM2; per-token
vectors differ from float32 by 0.7% (median relative L2 error), more (up to ~26% of the norm)
on the ~1% of tokens carrying massive activations (measured on 128 MMLU questions, see
docs/results/tokens.md). `auto`: bfloat16 where the device computes it natively (a CUDA GPU
with bf16, a CPU with AMX or AVX512-BF16), float32 elsewhere. The resolved dtype is part of
the fingerprint and of the output metadata.

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from saescope.errors import ConfigError, InputError

log = logging.getLogger(__name__)

POOLINGS = ("mean", "max", "last", "topk")
DTYPES = ("auto", "float32", "bfloat16")


def resolve_compute_dtype(dtype: str, device: Any) -> str:
    """`float32` or `bfloat16` for `dtype` on `device` (see the module doc for `auto`)."""
    import torch

    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if dtype != "auto":
        return dtype
    kind = torch.device(device).type
    if kind == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    if kind == "cpu":
        native = [getattr(torch.cpu, f, None) for f in ("_is_amx_tile_supported",
                                                        "_is_avx512_bf16_supported")]
        return "bfloat16" if any(f is not None and f() for f in native) else "float32"
    return "float32"


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
        dtype: str = "auto",
    ) -> None:
        """`model`: `smollm2`, a model folder or a hub name; `model_and_tokenizer` reuses a
        loaded pair (from `saescope.data.models.load_causal_lm`). `layers` default: the middle
        block. `skip_first`: leave each document's first position (the attention sink, where
        the massive activations sit) out of pooling when it has another token. `dtype`: compute
        dtype, `auto` | `float32` | `bfloat16` (see the module doc)."""
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
        self.dtype = resolve_compute_dtype(dtype, self.device)
        bos = self.tokenizer.bos_token_id
        probe = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        self.bos_id: int | None = bos if bos is not None and probe and probe[0] == bos else None

    def fingerprint(self) -> str:
        """What determines the vectors, for resume checks and output metadata."""
        path = getattr(self.model, "name_or_path", "") or self.model_name
        return (
            f"act:{self.model_name}:{path}:layers={self.layers}:pool={self.pooling}:"
            f"k={self.top_k}:T={self.max_tokens}" + ("" if self.skip_first else ":keep_first")
            + ("" if self.dtype == "float32" else f":dtype={self.dtype}")
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

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """int64 [N]: tokens of each text that the forward reads (after truncation), i.e. the
        unit of the progress bar and of throughput figures."""
        return np.array([len(s) for s in self._tokenize(texts)], dtype=np.int64)

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
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16,
                                  enabled=self.dtype == "bfloat16")
        try:
            with torch.inference_mode(), autocast:
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

    def _run(self, ids: list[list[int]], progress: bool,
             on_batch: Callable[[int], None] | None) -> Iterator[tuple[np.ndarray, Any, Any, Any]]:
        """(batch doc indices, hidden, input_ids, valid) per length-sorted batch; reports each
        batch's token count to the bar and to `on_batch`."""
        bar = tqdm(total=sum(map(len, ids)), desc="activations", unit="tok", unit_scale=True,
                   disable=not progress)
        for batch in self._batches(ids):
            hidden, input_ids, valid = self._forward([ids[i] for i in batch])
            yield batch, hidden, input_ids, valid
            n = sum(len(ids[i]) for i in batch)
            bar.update(n)
            if on_batch is not None:
                on_batch(n)
        bar.close()

    def pooled(self, texts: Sequence[str], progress: bool = False,
               on_batch: Callable[[int], None] | None = None) -> dict[int, np.ndarray]:
        """{layer: float32 [N, d]} pooled vectors of `texts`, in input order. `on_batch` is
        called with each batch's token count (for a caller's progress bar)."""
        ids = self._tokenize(texts)
        out = {layer: np.zeros((len(ids), self.hidden_size), np.float32) for layer in self.layers}
        for batch, hidden, _, valid in self._run(ids, progress, on_batch):
            for layer, H in hidden.items():
                out[layer][batch] = self.pool(H, valid).cpu().numpy()
        return out

    def per_token(self, texts: Sequence[str], progress: bool = False,
                  on_batch: Callable[[int], None] | None = None) -> TokenBatch:
        """Activations of every valid token of `texts` (documents in input order)."""
        ids = self._tokenize(texts)
        docs: dict[int, tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]] = {}
        for batch, hidden, input_ids, valid in self._run(ids, progress, on_batch):
            valid_np = valid.cpu().numpy()
            ids_np = input_ids.cpu().numpy()
            host = {layer: H.cpu().numpy() for layer, H in hidden.items()}
            for row, doc in enumerate(batch):
                pos = np.flatnonzero(valid_np[row])
                docs[int(doc)] = (pos, ids_np[row, pos], {k: v[row, pos] for k, v in host.items()})
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


class RunningVariance:
    """Per-dimension mean and variance of rows seen in blocks, without keeping them.

    Blocks are merged with the pairwise update of Chan, Golub & LeVeque ("Updating formulae and
    a pairwise algorithm for computing sample variances", 1979): for blocks A, B with counts
    n_a, n_b, means m_a, m_b and sums of squared deviations M_a, M_b,
    M = M_a + M_b + (m_b - m_a)^2 n_a n_b / (n_a + n_b).
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def update(self, X: np.ndarray) -> None:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            return
        nb, mb = len(X), X.mean(axis=0)
        m2b = ((X - mb) ** 2).sum(axis=0)
        if self.mean is None or self.m2 is None:
            self.n, self.mean, self.m2 = nb, mb, m2b
            return
        n = self.n + nb
        delta = mb - self.mean
        self.m2 = self.m2 + m2b + delta**2 * (self.n * nb / n)
        self.mean = self.mean + delta * (nb / n)
        self.n = n

    @property
    def var(self) -> np.ndarray:
        """Population variance per dimension (zeros before any row)."""
        if self.m2 is None or self.n == 0:
            return np.zeros(0)
        return self.m2 / self.n


def dominant_dimensions(X: np.ndarray | RunningVariance, top: int = 3, share: float = 0.5,
                        first_token_excluded: bool | None = True) -> str | None:
    """A warning text when the `top` highest-variance dimensions of X (rows, or the running
    variance of a whole file) hold more than `share` of its total variance (massive
    activations, see the module docstring), else None.

    Cosines and SAE reconstruction errors are then dominated by those dimensions: an FVU near 0
    means the SAE learnt them, not the rest. Isotropic 384-d data gives about 3 x 0.26%. The
    advice names what is not already done: leaving the first token out when it was kept, else
    standardising the dimensions (`first_token_excluded=None`: unknown, e.g. not activations).
    """
    if isinstance(X, RunningVariance):
        n, var = X.n, X.var
    else:
        if X.ndim != 2:
            return None
        n, var = len(X), np.asarray(X, dtype=np.float64).var(axis=0)
    if n < 2 or len(var) <= top or var.sum() <= 0:
        return None
    dims = np.argsort(-var, kind="stable")[:top]
    held = float(var[dims].sum() / var.sum())
    if held <= share:
        return None
    parts = ", ".join(f"{int(d)} ({var[d] / var.sum():.1%})" for d in dims)
    if first_token_excluded is None:  # not LLM activations, or made elsewhere
        advice = ("Standardise each dimension before training an SAE (saescope train "
                  "--input-standardize) or comparing cosines, or both mostly see these dimensions.")
    elif first_token_excluded:
        advice = ("The first token is already left out: standardise each dimension before "
                  "training an SAE (saescope train --input-standardize) or comparing cosines, or "
                  "the SAE's FVU mostly measures these dimensions.")
    else:
        advice = ("The first token (the attention sink) was pooled: leave it out (drop "
                  "--keep-first-token), then standardise the dimensions if this persists.")
    return f"{top} of {len(var)} dimensions hold {held:.1%} of the variance: {parts}. {advice}"


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
    `doc_id`, `position`, `token`, `token_id`, `embedding`, then the document's other columns
    but its text (`token_tables`). Resumable by shard of `shard_size`
    documents; only one shard's activations are in memory at a time. The progress bar counts
    tokens, batch by batch. When done, the dominant-dimension check runs once per layer over
    the whole output (`dominant_dimensions`) and logs at most one warning per layer.
    """
    from saescope.data.embed import vector_table
    from saescope.data.shards import ShardedWriter

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
        "dtype": extractor.dtype,
    }

    def with_meta(t: pa.Table, layer: int) -> pa.Table:
        kv = {f"saescope.{k}".encode(): v.encode() for k, v in meta.items()}
        kv[b"saescope.layer"] = str(layer).encode()
        return t.replace_schema_metadata({**(t.schema.metadata or {}), **kv})

    bar = tqdm(total=_count_tokens(table, text_field, extractor) if progress else 0,
               desc="activations", unit="tok", unit_scale=True, disable=not progress)

    def compute(shard: pa.Table) -> dict[str, pa.Table]:
        texts = shard[text_field].to_pylist()
        try:
            if not per_token:
                pooled = extractor.pooled(texts, on_batch=bar.update)
                return {str(k): with_meta(vector_table(shard, X), k) for k, X in pooled.items()}
            tb = extractor.per_token(texts, on_batch=bar.update)
        except InputError as exc:
            raise InputError(f"{exc} in shard starting at id {shard['id'][0]}") from None
        tables = token_tables(shard, tb, extractor.tokenizer, text_field)
        return {str(k): with_meta(t, k) for k, t in tables.items()}

    def skipped(shard: pa.Table) -> None:  # a shard done by an earlier run still counts
        if progress:
            bar.update(int(extractor.token_counts(shard[text_field].to_pylist()).sum()))

    fingerprint = hashlib.sha256(f"{extractor.fingerprint()}:per_token={per_token}".encode()).hexdigest()
    writer = ShardedWriter({str(k): v for k, v in outs.items()}, shard_size=shard_size,
                           overwrite=overwrite)
    try:
        writer.run(table, compute, fingerprint=fingerprint, id_columns=("id", text_field),
                   progress=False, on_skip=skipped)
    finally:
        bar.close()
    for layer, path in outs.items():
        msg = dominant_dimensions(output_variance(path), first_token_excluded=extractor.skip_first)
        if msg:
            log.warning("%s (layer %s, whole file): %s", path, layer, msg)
    return outs


def _count_tokens(table: pa.Table, text_field: str, extractor: ActivationExtractor,
                  chunk: int = 4096) -> int:
    """Tokens the forward will read, for the progress bar (tokenised a chunk at a time)."""
    total = 0
    for start in range(0, table.num_rows, chunk):
        texts = table[text_field].slice(start, chunk).to_pylist()
        try:
            total += int(extractor.token_counts(texts).sum())
        except InputError:
            pass  # compute() raises it with the shard's id
    return total


TOKEN_COLUMNS = ("id", "embedding", "doc_id", "position", "token", "token_id")
"""The columns of a per-token output, before the documents' passthrough columns."""


def token_tables(shard: pa.Table, tb: TokenBatch, tokenizer: Any,
                 text_field: str = "text") -> dict[int, pa.Table]:
    """{layer: per-token table} of one shard: `id` (`<doc_id>:<pos>`), `embedding`, `doc_id`,
    `position`, `token` (the decoded string of the one token), `token_id`, then each of the
    document's other columns but its text (labels, and `split`, so that `train` validates on
    held-out documents rather than on tokens of the documents it trains on)."""
    from saescope.data.shards import vectors_to_arrow

    take = pa.array(tb.doc_index)
    doc_ids = shard["id"].cast(pa.string()).take(take)
    tokens = tokenizer.batch_decode([[t] for t in tb.token_id.tolist()])
    row_ids = [f"{d}:{p}" for d, p in zip(doc_ids.to_pylist(), tb.position.tolist(), strict=True)]
    passthrough = {name: shard[name].take(take) for name in shard.column_names
                   if name != text_field and name not in TOKEN_COLUMNS}
    return {
        layer: pa.table(
            {
                "id": pa.array(row_ids, pa.string()),
                "embedding": vectors_to_arrow(X),
                "doc_id": doc_ids,
                "position": pa.array(tb.position, pa.int32()),
                "token": pa.array(tokens, pa.string()),
                "token_id": pa.array(tb.token_id, pa.int64()),
                **passthrough,
            }
        )
        for layer, X in tb.vectors.items()
    }


def output_variance(path: str | Path) -> RunningVariance:
    """Per-dimension variance of every vector of an output file or folder (streamed)."""
    from saescope.data.store import ActivationStore

    stats = RunningVariance()
    try:
        store = ActivationStore(path, batch_size=65_536, buffer_size=65_536, shuffle=False,
                                check_finite=False)
    except InputError:  # an output without vectors has no variance to check
        return stats
    for X in store:
        stats.update(X)
    return stats
