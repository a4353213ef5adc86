"""The measured fast path for planning: Sampler.sample with the residual MLP, in fewer, cheaper kernels.

Read dpedu/diffusion/sampler.py and dpedu/networks/mlp.py for the algorithm; this file only rearranges their
arithmetic. At batch 1 a plan costs its kernel launches, not its FLOPs (~3 MFLOP for 10 steps), so the saving is
in what each step no longer recomputes:

  - the input layer of the "concat" MLP is W_in [x_t, obs, emb(t)] + b = W_x x_t + (W_obs obs) + (W_emb emb(t) + b):
    W_obs obs is computed once per plan (obs is fixed during a plan), and W_emb emb(t) + b once per visited t and
    cached until the weights change (tensor versions), so a step's input layer is one addmm;
  - the network's layers are called as functions (F.linear, F.layer_norm), without nn.Module call overhead;
  - the step itself is the sampler's own fused step (Sampler._fused_step), not a copy of it.

The noise is drawn from the generator in the literal path's order (x_{T-1}, then each step's z), so both paths
give the same samples to float32 rounding (tests/test_fast_plan.py). benchmarks/query.py times both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dpedu.diffusion.sampler import Sampler
from dpedu.networks.mlp import MLPDenoiser


class FastPlanner:
    """Sampler.sample(model, shape, obs, generator) for a "concat" MLPDenoiser, faster; `supports(model)` says when."""

    def __init__(self, model: MLPDenoiser, sampler: Sampler):
        if not self.supports(model):
            raise TypeError(f"FastPlanner needs an MLPDenoiser with conditioning='concat', got {type(model).__name__}")
        self.model, self.sampler = model, sampler
        self.x_size = model.act_shape[0] * model.act_shape[1]
        self._cache_key, self._tables_cache = None, None
        # Gathered once: walking the module tree at every plan costs ~15 us, a twentieth of the plan. Parameters
        # are updated in place (optimizers, load_state_dict, EMA), which bumps their versions; one replaced by
        # assignment would not be seen, and nothing in dpedu does that.
        self._modules, self._params = list(model.modules()), list(model.parameters())
        self._steps = [(t, c) for (t, _), c in zip(sampler.steps, sampler._coefficients)]  # visited t, coefficients

    @staticmethod
    def supports(model) -> bool:
        return isinstance(model, MLPDenoiser) and model.conditioning == "concat"

    def has_hooks(self) -> bool:
        return any(m._forward_hooks or m._forward_pre_hooks for m in self._modules)

    def _tables(self) -> tuple:
        """Everything a step reads that does not depend on x_t, as plain tensors (no module lookups in the loop).

        Rebuilt only when a parameter changed in place (an optimizer's update bumps its version): W_emb emb(t) + b_in
        for every visited t (S, hidden), and views of the weights.
        """
        m = self.model
        key = tuple(p._version for p in self._params)
        if key != self._cache_key:
            w_in, x_size = m.inp.weight.detach(), self.x_size
            n_emb = m.time_embedding.freqs.numel() * 2
            ts = torch.tensor([t for t, _ in self._steps], device=w_in.device)
            emb_terms = F.linear(m.time_embedding(ts), w_in[:, w_in.shape[1] - n_emb:], m.inp.bias.detach())
            blocks = [(b.norm.normalized_shape, b.norm.weight.detach(), b.norm.bias.detach(), b.norm.eps,
                       b.fc1.weight.detach(), b.fc1.bias.detach(), b.fc2.weight.detach().t(), b.fc2.bias.detach())
                      for b in m.blocks]
            out = (m.out_norm.normalized_shape, m.out_norm.weight.detach(), m.out_norm.bias.detach(), m.out_norm.eps,
                   m.out.weight.detach(), m.out.bias.detach())
            self._tables_cache = (w_in[:, :x_size].t(), w_in[:, x_size:w_in.shape[1] - n_emb], emb_terms, blocks, out)
            self._cache_key = key
        return self._tables_cache

    @torch.inference_mode()
    def sample(self, shape: tuple[int, ...], obs: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """x_{-1} of `shape` (B, H, act_dim) for observation windows obs (B, To, obs_dim), normalised."""
        sampler, device, B, x_size = self.sampler, self.sampler.schedule.device, shape[0], self.x_size
        w_x_t, w_obs, emb_terms, blocks, (out_shape, out_lw, out_lb, out_eps, w_out, b_out) = self._tables()
        # W_obs obs is the same at every step of this plan: (S, B, hidden) = W_emb emb(t) + b_in + W_obs obs, once.
        cond_terms = emb_terms[:, None] + F.linear(obs.reshape(B, -1), w_obs)
        x = torch.randn(shape, generator=generator, device=device).reshape(B, x_size)  # x_{T-1}
        for cond_term, (t, c) in zip(cond_terms, self._steps):
            h = torch.addmm(cond_term, x, w_x_t)  # = W_in [x_t, obs, emb(t)] + b_in
            for norm_shape, lw, lb, ln_eps, w1, b1, w2_t, b2 in blocks:  # h + W2 silu(W1 LayerNorm(h))
                z = F.linear(F.layer_norm(h, norm_shape, lw, lb, ln_eps), w1, b1)
                h = torch.addmm(h + b2, F.silu(z), w2_t)
            eps = F.linear(F.layer_norm(h, out_shape, out_lw, out_lb, out_eps), w_out, b_out)
            z = torch.randn(shape, generator=generator, device=device).reshape(B, x_size) if c.sigma > 0.0 else None
            x = sampler._fused_step(x, eps, t, c, z)  # the sampler's own step, as Sampler.sample runs it
        return x.reshape(shape)


def planner_for(model, sampler: Sampler, current: FastPlanner | None = None) -> FastPlanner | None:
    """The FastPlanner to use for (model, sampler), reusing `current` if it fits; None where only the literal path can.

    None for networks it does not cover (the FiLM MLP, the U-Net) and for a model with forward hooks: the fast path
    calls the layers as functions, so hooks would not run (notebook 06 counts network evaluations with one). Global
    hooks (torch.nn.modules.module.register_module_forward_hook) are not looked for.
    """
    if current is not None and current.model is model and current.sampler is sampler:
        return None if current.has_hooks() else current
    if not FastPlanner.supports(model):
        return None
    planner = FastPlanner(model, sampler)
    return None if planner.has_hooks() else planner
