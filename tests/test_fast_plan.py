"""The fast planning path (dpedu/runtime/fast_plan.py) gives the literal path's samples, to float32 rounding."""

import math

import pytest
import torch

from dpedu.diffusion.sampler import make_sampler
from dpedu.diffusion.schedule import NoiseSchedule
from dpedu.networks.mlp import MLPDenoiser
from dpedu.runtime.fast_plan import FastPlanner, planner_for


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return MLPDenoiser(act_dim=2, action_horizon=8, obs_dim=3, obs_horizon=2, hidden_dim=64, **kw).eval()


@pytest.mark.parametrize("kind, steps, eta, clip", [("ddpm", 10, 0.0, True), ("ddpm", 50, 0.0, False),
                                                    ("ddpm", 1, 0.0, True), ("ddim", 10, 0.0, True),
                                                    ("ddim", 7, 0.5, False), ("ddim", 50, 1.0, True)])
@pytest.mark.parametrize("batch", [1, 5])
def test_same_samples_as_the_literal_sampler(kind, steps, eta, clip, batch):
    model, schedule = _model(), NoiseSchedule(50, "cosine")
    sampler = make_sampler(kind, schedule, steps, eta, clip)
    obs, shape = torch.randn(batch, 2, 3), (batch, 8, 2)
    literal = sampler.sample(model, shape, obs, generator=torch.Generator().manual_seed(3))
    fast = FastPlanner(model, sampler).sample(shape, obs, generator=torch.Generator().manual_seed(3))
    # x0_pred divides by sqrt(alpha_bar_49) ~ 1e-3 at the first step, which scales float32 rounding (~1e-7 of eps)
    # up to ~1e-4; the tolerance follows that amplification.
    atol = 1e-6 / math.sqrt(sampler.alpha_bar(sampler.steps[0][0]))
    assert torch.allclose(fast, literal, rtol=0, atol=atol), ((fast - literal).abs().max(), atol)


def test_the_per_step_cache_follows_weight_updates():
    model, schedule = _model(), NoiseSchedule(50, "linear")
    sampler = make_sampler("ddpm", schedule, 10)
    planner, obs, shape = FastPlanner(model, sampler), torch.randn(2, 2, 3), (2, 8, 2)
    planner.sample(shape, obs, torch.Generator().manual_seed(0))  # fills the cache
    with torch.no_grad():
        model.inp.weight.mul_(1.5)  # an optimizer's in-place update, as training does
        model.inp.bias.add_(0.1)
    literal = sampler.sample(model, shape, obs, generator=torch.Generator().manual_seed(1))
    fast = planner.sample(shape, obs, torch.Generator().manual_seed(1))
    assert torch.allclose(fast, literal, atol=1e-5)


def test_planner_only_where_it_applies():
    sampler = make_sampler("ddpm", NoiseSchedule(50), 10)
    model = _model()
    planner = planner_for(model, sampler)
    assert isinstance(planner, FastPlanner) and planner_for(model, sampler, planner) is planner
    assert planner_for(model, make_sampler("ddim", NoiseSchedule(50), 5), planner) is not planner
    assert planner_for(_model(conditioning="film"), sampler) is None  # FiLM and the U-Net: the literal path
    handle = model.out.register_forward_hook(lambda *args: None)
    assert planner_for(model, sampler) is None  # hooks need module calls (notebook 06 counts evaluations)
    handle.remove()
    with pytest.raises(TypeError, match="conditioning='concat'"):
        FastPlanner(_model(conditioning="film"), sampler)


def test_policy_plans_with_it_and_matches_the_literal_path(tiny_trainer):
    """predict_chunk takes the fast path; the same generator state through the literal sampler gives the same plan."""
    import numpy as np

    policy = tiny_trainer.policy
    window = np.zeros((3, policy.config.obs_horizon, policy.obs_dim), dtype=np.float32)
    policy.reset(seed=7)
    fast = policy.predict_chunk(window)
    assert policy._planner is not None
    handle = policy.model.out.register_forward_hook(lambda *args: None)  # forces the literal path
    policy.reset(seed=7)
    literal = policy.predict_chunk(window)
    handle.remove()
    assert np.allclose(fast, literal, atol=1e-4)
