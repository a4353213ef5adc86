"""Exercise (notebook 07): FiLM conditioning, h <- gamma(c) * h + b(c), as the U-Net's residual blocks apply it."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from dpedu.course.exercises.checking import Case, Exercise, Mistake, Passed, _check, reports_not_attempted
from dpedu.networks.unet1d import FiLMResidualBlock


def reference_film(h: torch.Tensor, cond: torch.Tensor, linear: nn.Module) -> torch.Tensor:
    """FiLM (Perez et al. 2018):  h <- gamma(c) * h + b(c),  one (gamma, b) pair per channel, shared over time.

    h (B, C, L) features, cond (B, cond_dim), linear maps cond to (B, 2C): the first C are gamma, the last C are b.
    Returns (B, C, L).
    """
    gamma, b = linear(cond).chunk(2, dim=-1)  # each (B, C)
    return gamma[..., None] * h + b[..., None]  # (B, C, 1): the same scale and bias at every time step


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def _truth(h: torch.Tensor, cond: torch.Tensor, linear: nn.Module) -> torch.Tensor:
    """The FiLM line of the U-Net's own FiLMResidualBlock.forward: its convolutions and residual made pass-through
    (conv1 and conv2 the identity, the residual zero), its film map the given `linear`."""
    channels = h.shape[1]
    block = FiLMResidualBlock(channels, channels, cond.shape[-1], kernel_size=3, groups=1)
    block.conv1, block.conv2, block.residual, block.film = nn.Identity(), nn.Identity(), _Zero(), linear
    with torch.no_grad():
        return block(h, cond)


def _halves(linear: nn.Module, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return linear(cond).chunk(2, dim=-1)


FILM_MISTAKES = [
    Mistake("scale and bias are swapped: the first half of linear(cond) is the scale gamma, the second the bias b "
            "(gamma, b = linear(cond).chunk(2, dim=-1)), as FiLMResidualBlock reads them.",
            lambda h, c, lin: _halves(lin, c)[1][..., None] * h + _halves(lin, c)[0][..., None]),
    Mistake("gamma and b vary along the wrong axis: they are one number per *channel* (B, C), the same at every "
            "time step, so they broadcast as (B, C, 1): gamma[..., None] (or gamma.unsqueeze(-1)), not "
            "gamma[:, None, :].",
            lambda h, c, lin: _halves(lin, c)[0][:, None, :] * h + _halves(lin, c)[1][:, None, :]),
    Mistake("only the bias is applied (h + b): FiLM also scales, h <- gamma * h + b.",
            lambda h, c, lin: h + _halves(lin, c)[1][..., None]),
    Mistake("only the scale is applied (gamma * h): FiLM also shifts, h <- gamma * h + b.",
            lambda h, c, lin: _halves(lin, c)[0][..., None] * h),
    Mistake("the scale is (1 + gamma): some FiLM codes use that parameterisation, this U-Net (as Chi et al.'s) "
            "multiplies by gamma itself: h <- gamma * h + b.",
            lambda h, c, lin: (1 + _halves(lin, c)[0][..., None]) * h + _halves(lin, c)[1][..., None]),
    Mistake("gamma and b were taken interleaved (even and odd entries): they are the two halves, "
            "gamma, b = linear(cond).chunk(2, dim=-1).",
            lambda h, c, lin: lin(c)[:, 0::2, None] * h + lin(c)[:, 1::2, None]),
]


def _cases(seed: int = 0) -> list[Case]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    # The first case has C = L, so that a scale broadcast along the wrong axis runs (and is named).
    for batch, channels, length, cond_dim, mish in [(2, 4, 4, 5, False), (3, 6, 8, 7, False), (2, 8, 16, 12, True)]:
        with torch.random.fork_rng():  # seeded weights without touching the learner's random state
            torch.manual_seed(seed + channels)
            lin = nn.Linear(cond_dim, 2 * channels)
            linear = nn.Sequential(nn.Mish(), lin) if mish else lin
        h = torch.randn(batch, channels, length, generator=g)
        cond = torch.randn(batch, cond_dim, generator=g)
        what = "the block's own nn.Sequential(nn.Mish(), nn.Linear)" if mish else "an nn.Linear"
        cases.append(Case((h, cond, linear), f"h {tuple(h.shape)} (B, C, L), cond {tuple(cond.shape)}, linear "
                                             f"{what} from {cond_dim} to {2 * channels}"))
    return cases


FILM = Exercise("film(h, cond, linear)", "gamma, b = linear(cond).chunk(2, dim=-1); h = gamma[..., None] * h + "
                                         "b[..., None]   (shape (B, C, L))",
                ("h", "cond"), _truth, FILM_MISTAKES, rtol=1e-5, atol=1e-6,
                hints=[("must match the size", "gamma and b are (B, C), h is (B, C, L): give them a trailing axis, "
                                                "gamma[..., None], so each channel's pair is shared over the L time "
                                                "steps.")])


@reports_not_attempted("film")
def check_film(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's fn(h, cond, linear) -> h against the FiLM line of the U-Net's FiLMResidualBlock."""
    return _check(FILM, fn, _cases(), "nn.Linear and the block's Mish + Linear, C = L and C != L")
