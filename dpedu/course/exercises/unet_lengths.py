"""Exercise (notebook 07): the length of the action chunk at each level of the temporal U-Net."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from dpedu.course.exercises.checking import Passed, reports_not_attempted
from dpedu.networks.unet1d import UNet1DDenoiser

SIGNATURE = "unet_lengths(action_horizon, levels)"
EQUATION = ("[H, H / 2, ..., H / 2^(levels-1)] (levels numbers, ints), and ValueError unless H is a multiple of "
            "2^(levels-1)")


def reference_unet_lengths(action_horizon: int, levels: int) -> list[int]:
    """The chunk's length at each level of UNet1DDenoiser: H, H/2, ..., H/2^(levels-1) (halved between levels).

    Raises ValueError unless H is a multiple of 2^(levels-1): every halving must be exact, or the skip connections
    would not line up again on the way up.
    """
    factor = 2 ** (levels - 1)  # levels - 1 halvings: none after the coarsest level
    if action_horizon % factor:
        raise ValueError(f"action_horizon {action_horizon} is not a multiple of 2^(levels-1) = {factor}")
    return [action_horizon // 2**i for i in range(levels)]


@functools.cache
def _measured(action_horizon: int, levels: int) -> tuple[int, ...] | None:
    """The lengths measured on a real UNet1DDenoiser (a forward hook on each down level's last block), or None
    where its constructor refuses the horizon."""
    try:
        with torch.random.fork_rng():  # the weights do not matter; the learner's random state is left alone
            net = UNet1DDenoiser(act_dim=1, action_horizon=action_horizon, obs_dim=1, obs_horizon=1, unet_dim=8,
                                 levels=levels, kernel_size=3, groups=1)
    except ValueError:
        return None
    lengths: list[int] = []
    for _, block2, _ in net.down:
        block2.register_forward_hook(lambda module, args, out: lengths.append(out.shape[-1]))
    with torch.no_grad():
        net(torch.zeros(1, action_horizon, 1), torch.ones(1, dtype=torch.long), torch.zeros(1, 1, 1))
    return tuple(lengths)


# (action_horizon, levels): valid ones first, then horizons the network refuses.
CASES = [(16, 2), (16, 3), (8, 1), (4, 3), (12, 3), (10, 2), (16, 4), (6, 3), (9, 2), (20, 4)]


def _mistake(got, action_horizon: int, levels: int) -> str | None:
    """The usual mistake a (wrong) returned list matches, or None."""
    if not isinstance(got, list) or not all(isinstance(n, int) for n in got):
        return None
    H = action_horizon
    if got == [H // 2**i for i in range(levels + 1)]:
        return ("one level too many: `levels` counts resolutions, and the horizon is halved between them, levels - 1 "
                "times (none after the coarsest level), so there are levels numbers, the first H.")
    if got == [H // 2**i for i in range(levels - 1)]:
        return "one level too few: there are `levels` resolutions, the first H itself: range(levels)."
    if got == [H // 2 ** (i + 1) for i in range(levels)]:
        return "the list starts at H / 2: the first level works on the whole chunk, H steps, before any halving."
    if _measured(H, levels) is None and got in ([H // 2**i for i in range(levels)], [-(-H // 2**i) for i in
                                                                                     range(levels)]):
        return (f"H = {H} is not a multiple of 2^(levels-1) = {2 ** (levels - 1)}: integer division hides the "
                "remainder, but the skip connections would not line up on the way up. Check "
                "action_horizon % 2 ** (levels - 1) first and raise ValueError, as UNet1DDenoiser does.")
    return None


@reports_not_attempted("unet_lengths")
def check_unet_lengths(fn: Callable[[int, int], list[int]]) -> Passed:
    """Check the learner's fn(action_horizon, levels) against a real UNet1DDenoiser, measured level by level."""
    for H, levels in CASES:
        where = f"action_horizon = {H}, levels = {levels}"
        expected = _measured(H, levels)
        try:
            got = fn(H, levels)
        except NotImplementedError:
            raise
        except ValueError as e:
            if expected is None:
                continue
            if H % 2**levels:
                raise AssertionError(
                    f"{SIGNATURE} raised ValueError on {where}, which the U-Net accepts ({list(expected)}):\n  the "
                    f"check uses 2^levels = {2 ** levels}; the horizon is halved levels - 1 times, so it must be a "
                    f"multiple of 2^(levels-1) = {2 ** (levels - 1)}.\n  Expected: {EQUATION}") from e
            raise AssertionError(f"{SIGNATURE} raised ValueError on {where}, which the U-Net accepts "
                                 f"({list(expected)}): {e}\n  Expected: {EQUATION}") from e
        except Exception as e:
            what = "" if expected is not None else " (here a ValueError is right: raise ValueError, not that)"
            raise AssertionError(f"{SIGNATURE} raised {type(e).__name__} on {where}{what}:\n    {e}") from e
        if got is None:
            raise AssertionError(f"{SIGNATURE} returned None on {where}: did you forget `return`?")
        if isinstance(got, tuple):
            got = list(got)
        if isinstance(got, list) and any(isinstance(n, float) for n in got):
            raise AssertionError(f"{SIGNATURE} returned floats {got} on {where}: lengths are whole numbers of "
                                 "time steps; use integer division, H // 2 ** i.")
        if expected is None:
            message = _mistake(got, H, levels) or (f"got {got!r}; the U-Net refuses this horizon (it is not a "
                                                  f"multiple of {2 ** (levels - 1)}): raise ValueError.")
            raise AssertionError(f"{SIGNATURE} is wrong on {where}:\n  {message}\n  Expected: {EQUATION}")
        if got != list(expected):
            message = _mistake(got, H, levels) or f"got {got!r}, the network's levels have lengths {list(expected)}."
            raise AssertionError(f"{SIGNATURE} is wrong on {where}:\n  {message}\n  Expected: {EQUATION}")
    return Passed(f"Correct: {SIGNATURE} matches the lengths measured in a real UNet1DDenoiser on {len(CASES)} cases "
                  "(1 to 4 levels, and horizons it refuses).")
