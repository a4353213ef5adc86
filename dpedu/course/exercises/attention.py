"""Exercise (notebook 11): scaled dot-product attention with a mask, what every layer of the transformer runs."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from dpedu.course.exercises.checking import Case, Exercise, Mistake, Passed, _check, reports_not_attempted
from dpedu.networks.transformer import causal_mask


def reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) with the masked scores at -inf, over the keys) v (Vaswani et al. 2017, eq. 1).

    q (B, Lq, d) queries, k (B, Lk, d) keys, v (B, Lk, dv) values; mask (Lq, Lk) bool, True where query i may NOT
    read key j (nn.Transformer's convention; causal_mask(H) for the action tokens). Returns (B, Lq, dv).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, Lq, Lk): how well query i matches key j
    scores = scores.masked_fill(mask, float("-inf"))  # a masked key gets weight exp(-inf) = 0
    return torch.softmax(scores, dim=-1) @ v  # each query: a weighted mean of the values it may read


def _truth(q, k, v, mask):
    """What nn.MultiheadAttention computes per head (its bool mask True = not allowed; F.sdpa's True = allowed)."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=~mask)


def _scores(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


ATTENTION_MISTAKES = [
    Mistake("the scores are not divided by sqrt(d): q k^T / sqrt(d) keeps the softmax from saturating as d grows.",
            lambda q, k, v, m: torch.softmax((q @ k.transpose(-2, -1)).masked_fill(m, float("-inf")), -1) @ v),
    Mistake("the mask is read the other way round: True marks what a query may NOT read (nn.Transformer's "
            "convention), so fill the scores where mask is True.",
            lambda q, k, v, m: torch.softmax(_scores(q, k).masked_fill(~m, float("-inf")), -1).nan_to_num() @ v),
    Mistake("the mask was applied after the softmax (weights set to 0): the weights a query may use no longer sum to "
            "1. Set the masked scores to -inf before the softmax.",
            lambda q, k, v, m: torch.softmax(_scores(q, k), -1).masked_fill(m, 0.0) @ v),
    Mistake("the softmax runs over the queries (dim -2): each query's weights over the keys (dim -1) must sum to 1.",
            lambda q, k, v, m: torch.softmax(_scores(q, k).masked_fill(m, float("-inf")), -2).nan_to_num() @ v),
    Mistake("the mask was left out: with it, action i reads actions 0..i only.",
            lambda q, k, v, m: torch.softmax(_scores(q, k), -1) @ v),
]


def _cases(seed: int = 0) -> list[Case]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    for batch, length, d, dv in [(2, 4, 8, 8), (3, 8, 16, 5), (1, 16, 64, 4)]:
        q, k, v = (torch.randn(batch, length, n, generator=g) for n in (d, d, dv))
        cases.append(Case((q, k, v, causal_mask(length)),
                          f"q, k {tuple(q.shape)}, v {tuple(v.shape)}, the causal mask of {length} tokens"))
    return cases


ATTENTION = Exercise("attention(q, k, v, mask)",
                     "softmax(q k^T / sqrt(d), the scores where mask is True set to -inf, over the keys) v",
                     ("q", "k", "v", "mask"), _truth, ATTENTION_MISTAKES, rtol=1e-5, atol=1e-5,
                     hints=[("must match the size", "q @ k.transpose(-2, -1) is (B, Lq, Lk), the shape of the mask "
                             "after broadcasting; the weights @ v is (B, Lq, dv).")])


@reports_not_attempted("attention")
def check_attention(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's fn(q, k, v, mask) against torch's scaled_dot_product_attention, which the transformer's
    nn.MultiheadAttention layers run."""
    return _check(ATTENTION, fn, _cases(), "4, 8 and 16 tokens, causal masks, widths 8 to 64")
