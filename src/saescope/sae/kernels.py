"""TopK encode/decode kernels: a sparse fast path and its plain PyTorch twin.

Plain path (`topk_encode_dense`, `decode_dense`): the dense encoder matmul, `torch.topk`, a
scatter into a dense [B, M] code and a dense decoder matmul; autograd does the rest. It is the
reference, and what CI runs.

Fast path (`topk_encode_sparse`, `decode_sparse`): the same forward values, but
  - the decoder is a gather-and-sum of the k active decoder rows (`F.embedding_bag`), never a
    [B, M] @ [M, D] product;
  - the encoder backward is sparse: only k of the M pre-activations of a row have a gradient,
    so dL/dx = sum_j g_j W_enc[i_j], dL/dW_enc is a sparse [M, B] x dense [B, D] product and
    dL/db_enc an index-add; the dense [B, M] pre-activations are not kept for backward.
`tests/sae/test_kernels.py` checks that both give the same top-k sets, losses and gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def topk_encode_dense(
    x_centered: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain: top-k of ReLU(W_enc x_c + b_enc), differentiable through autograd."""
    pre = F.relu(F.linear(x_centered, W_enc, b_enc))
    return pre.topk(k, dim=-1, sorted=False)


class _SparseTopKEncode(torch.autograd.Function):
    """top-k of ReLU(x_c W^T + b) with a backward that touches only the k selected entries."""

    @staticmethod
    def forward(ctx, x_c, W, b, k):  # type: ignore[override]
        pre = F.relu(F.linear(x_c, W, b))
        vals, idx = pre.topk(k, dim=-1, sorted=False)
        del pre
        ctx.save_for_backward(x_c, W, idx, vals)
        ctx.mark_non_differentiable(idx)
        return vals, idx

    @staticmethod
    def backward(ctx, grad_vals, _grad_idx):  # type: ignore[override]
        x_c, W, idx, vals = ctx.saved_tensors
        # ReLU: a selected entry that is 0 has no gradient (same subgradient as autograd's relu).
        g = torch.where(vals > 0, grad_vals, torch.zeros_like(grad_vals))
        grad_x = grad_W = grad_b = None
        m = W.shape[0]
        if ctx.needs_input_grad[0]:
            grad_x = F.embedding_bag(idx, W, per_sample_weights=g.to(W.dtype), mode="sum")
            grad_x = grad_x.to(x_c.dtype)
        flat_idx = idx.reshape(-1)
        flat_g = g.reshape(-1)
        if ctx.needs_input_grad[1]:
            rows = torch.arange(idx.shape[0], device=idx.device).repeat_interleave(idx.shape[1])
            g_MB = torch.sparse_coo_tensor(
                torch.stack([flat_idx, rows]), flat_g.to(x_c.dtype), (m, idx.shape[0]),
                check_invariants=False,
            )
            grad_W = torch.sparse.mm(g_MB, x_c).to(W.dtype)
        if ctx.needs_input_grad[2]:
            grad_b = torch.zeros(m, dtype=torch.float32, device=idx.device)
            grad_b.index_add_(0, flat_idx, flat_g.float())
        return grad_x, grad_W, grad_b, None


def topk_encode_sparse(
    x_centered: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fast: same values and indices as `topk_encode_dense`, sparse backward."""
    return _SparseTopKEncode.apply(x_centered, W_enc, b_enc, k)


def decode_dense(
    top_acts: torch.Tensor, top_indices: torch.Tensor, W_dec: torch.Tensor
) -> torch.Tensor:
    """Plain: scatter into a dense [B, M] code, then a dense matmul (no bias)."""
    dense = top_acts.new_zeros(top_acts.shape[0], W_dec.shape[0])
    dense.scatter_(-1, top_indices, top_acts)
    return dense @ W_dec.to(dense.dtype)


def decode_sparse(
    top_acts: torch.Tensor, top_indices: torch.Tensor, W_dec: torch.Tensor
) -> torch.Tensor:
    """Fast: sum_j top_acts[:, j] * W_dec[top_indices[:, j]] (gather-and-sum, no bias)."""
    return F.embedding_bag(
        top_indices, W_dec, per_sample_weights=top_acts.to(W_dec.dtype), mode="sum"
    )
