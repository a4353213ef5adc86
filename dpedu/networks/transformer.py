r"""eps_theta(x^k, k, obs) as Chi et al.'s time-series diffusion transformer (their TransformerForDiffusion).

Every action of the noisy chunk x^k (B, H, act_dim) becomes a token; the diffusion step k and every observation of
the window become the condition tokens the action tokens cross-attend to (a decoder over a "memory", as in
Vaswani et al.'s translation model, minGPT's blocks):

    memory:  [emb(k), W_o o_1, ..., W_o o_To] + learned positions -> MLP     (B, 1 + To, d)   condition tokens
    tokens:  W_in x^k_i + learned position i                                 (B, H, d)        one per action
    n_layers x  [causal self-attention among the action tokens,             token i reads tokens 0..i
                 cross-attention to the memory,                             every token reads k and the whole window
                 feed-forward 4 d],                                         pre-norm, residual (norm_first)
    eps_i = W_out LayerNorm(token i)                                        (B, H, act_dim)

Where the U-Net's convolution ties each action to its neighbours (smooth chunks, good for the slow changes of most
demonstrations), attention lets any action read any earlier one directly: Chi et al. found the transformer better on
tasks whose actions change quickly, and harder to tune (they use it with small learning rates and weight decay).

Causal self-attention follows Chi et al. (`causal_attn=True` in their configs; transformer_causal, the default): an
action is denoised from the actions before it, not after; transformer_causal=False lets every action read the whole
chunk. Their memory mask also hides later observations from earlier actions, because their
windows start To - 1 steps in the past; here every observation o[t-To+1 .. t] precedes every action a[t .. t+H-1]
(dpedu's windows), so each action token reads the whole window and no memory mask is needed.

Sized for a CPU: transformer_dim 64 with 4 heads and 2 layers (Chi et al.: 256, 4 heads, 8 layers). No dropout (Chi
et al.: 0.01-0.3 on attention): the course's Detour runs train on fresh demonstrations for a few thousand updates, and
dropout would draw from torch's global generator, outside the trainer's, which keeps resumed runs bit-exact.
"""

from __future__ import annotations

import torch
from torch import nn

from dpedu.networks.embedding import SinusoidalEmbedding


def causal_mask(n: int) -> torch.Tensor:
    """(n, n) bool, True where attention is NOT allowed: token i may read tokens j <= i only (torch's convention)."""
    return torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)


class TransformerDenoiser(nn.Module):
    """eps_theta(x^k, k, obs): x_k (B, H, act_dim), k (B,) in 1..K, obs (B, To, obs_dim) -> eps (B, H, act_dim).

    Args:
        act_dim, action_horizon: shape (H, act_dim) of an action chunk; one token per action.
        obs_dim, obs_horizon: shape (To, obs_dim) of an observation window; one condition token per observation.
        dim: d, every token's width; heads must divide it.
        heads: attention heads per layer.
        layers: decoder layers (self-attention, cross-attention, feed-forward).
        causal: action token i attends to tokens 0..i only (Chi et al.); False: to the whole chunk.
    """

    def __init__(self, act_dim: int, action_horizon: int, obs_dim: int, obs_horizon: int, dim: int = 64,
                 heads: int = 4, layers: int = 2, causal: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"transformer_heads ({heads}) must divide transformer_dim ({dim})")
        self.act_shape = (action_horizon, act_dim)
        self.time_embedding = SinusoidalEmbedding(dim)  # k's token (Chi et al.: the sinusoid itself, no MLP)
        self.obs_embedding = nn.Linear(obs_dim, dim)  # W_o: one token per observation of the window
        self.condition_positions = nn.Parameter(torch.zeros(1, 1 + obs_horizon, dim))
        # Chi et al.'s n_cond_layers = 0: the condition tokens pass through one MLP, not an encoder of their own.
        self.condition_mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.Mish(), nn.Linear(4 * dim, dim))
        self.action_embedding = nn.Linear(act_dim, dim)  # W_in
        self.action_positions = nn.Parameter(torch.zeros(1, action_horizon, dim))
        layer = nn.TransformerDecoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, act_dim)  # W_out
        self.causal = causal
        self.register_buffer("mask", causal_mask(action_horizon), persistent=False)  # rebuilt from H, not saved
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """GPT-2's initialisation, as Chi et al.: weights N(0, 0.02), biases 0, LayerNorms the identity."""
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.MultiheadAttention):
            nn.init.normal_(module.in_proj_weight, std=0.02)
            nn.init.zeros_(module.in_proj_bias)
        elif isinstance(module, TransformerDenoiser):
            nn.init.normal_(module.condition_positions, std=0.02)
            nn.init.normal_(module.action_positions, std=0.02)

    def forward(self, x_k: torch.Tensor, k: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        condition = torch.cat([self.time_embedding(k)[:, None], self.obs_embedding(obs)], dim=1)  # (B, 1 + To, d)
        memory = self.condition_mlp(condition + self.condition_positions)
        tokens = self.action_embedding(x_k) + self.action_positions  # (B, H, d)
        if self.causal:
            tokens = self.decoder(tokens, memory, tgt_mask=self.mask, tgt_is_causal=True)
        else:
            tokens = self.decoder(tokens, memory)
        return self.head(self.norm(tokens))  # (B, H, act_dim)
