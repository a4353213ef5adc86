"""The checking machinery the exercises share: run the learner's function on fixed cases, compare it with the
package, and name the usual mistake an answer matches."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch


class Passed(str):
    """A checker's success message; shown without quotes when it is the last value of a notebook cell."""

    def __repr__(self) -> str:
        return str(self)


class NotAttempted(str):
    """A checker's answer when the learner's function still raises NotImplementedError (the learner's edition's
    stub): the notebook runs on, and the learner sees which exercise is still open."""

    def __repr__(self) -> str:
        return str(self)


def reports_not_attempted(name: str) -> Callable[[Callable], Callable]:
    """Decorate a checker: a NotImplementedError from the learner's function becomes a NotAttempted message.

    Every other error still fails the check, so a learner's half-written answer is never mistaken for an open one.
    """

    def decorate(check: Callable) -> Callable:
        @functools.wraps(check)
        def wrapped(*args, **kwargs):
            try:
                return check(*args, **kwargs)
            except NotImplementedError as e:
                hint = f" ({e})" if str(e) else ""
                return NotAttempted(f"Not attempted yet: {name}{hint}. Write it in the cell above, run that cell, "
                                    f"then run this check again.")

        return wrapped

    return decorate


class Case(NamedTuple):
    """One call of the learner's function: fn(*args), described in words by `where`."""

    args: tuple
    where: str


class Mistake(NamedTuple):
    """A common wrong answer: `formula` computes it from a case's args, `says` names it and says what to do."""

    says: str
    formula: Callable[..., Any]


class Exercise(NamedTuple):
    """What a checker needs: the exact signature, the truth, the known mistakes, and how close is right."""

    signature: str  # e.g. "add_noise(schedule, x0, k, eps)", quoted in the messages
    equation: str  # what is expected, in symbols, closing every "wrong" message
    arg_names: tuple[str, ...]
    truth: Callable[..., torch.Tensor]  # the package's own code on a case's args
    mistakes: Sequence[Mistake]
    rtol: float
    atol: float
    hints: Sequence[tuple[str, str]] = ()  # (text in an exception's message, advice) for errors the learner raises
    validate: Callable[[torch.Tensor, Case], str | None] | None = None  # a check beyond the values, or None


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float, atol: float) -> bool:
    # float64, so a learner's float32 rounding is measured against the tolerance, not against ours
    return a.shape == b.shape and torch.allclose(a.detach().double(), b.detach().double(), rtol=rtol, atol=atol)


def _run(ex: Exercise, fn: Callable, case: Case) -> Any:
    """fn(*args) on copies of the input tensors; AssertionError if it raises or writes into its inputs."""
    copies = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in case.args)
    try:
        out = fn(*copies)
    except NotImplementedError:  # the learner's edition's stub: reported as "not attempted" by the checker
        raise
    except Exception as e:  # any error the learner's code raises becomes a message about it
        hints = [advice for text, advice in ex.hints if text in str(e)]
        raise AssertionError(f"{ex.signature} raised {type(e).__name__} on {case.where}:\n    {e}"
                             + "".join(f"\n  Hint: {h}" for h in hints)) from e
    for name, a, copy in zip(ex.arg_names, case.args, copies):
        if isinstance(a, torch.Tensor) and not torch.equal(a, copy):
            raise AssertionError(f"{ex.signature} changed its input `{name}` in place (an in-place op such as "
                                 f"{name}.mul_(...) or {name} *= ...): compute a new tensor and leave {name} as it is.")
    return out


def _check_tensor(ex: Exercise, got: Any, expected: torch.Tensor, case: Case) -> None:
    """A float tensor of the expected shape, with no NaN or inf."""
    what = "a scalar tensor (shape ())" if expected.dim() == 0 else f"a tensor of shape {tuple(expected.shape)}"
    if got is None:
        raise AssertionError(f"{ex.signature} returned None: did you forget `return`? Expected {what}.")
    if isinstance(got, tuple):
        raise AssertionError(f"{ex.signature} returned a tuple of {len(got)}: return only {what}.")
    if isinstance(got, (float, int)):
        raise AssertionError(f"{ex.signature} returned a Python {type(got).__name__}: return {what} (no .item(), "
                             f"so the value keeps its gradient and its shape).")
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{ex.signature} returned a {type(got).__name__}, not a torch.Tensor: expected {what}.")
    if not got.is_floating_point():
        raise AssertionError(f"{ex.signature} returned a tensor of dtype {got.dtype}: expected a float tensor.")
    if got.shape != expected.shape:
        raise AssertionError(f"{ex.signature} returned shape {tuple(got.shape)}, expected {tuple(expected.shape)} "
                             f"on {case.where}." + ("\n  Hint: reduce it to one number with .mean()."
                                                    if expected.dim() == 0 else ""))
    if not torch.isfinite(got).all():
        raise AssertionError(f"{ex.signature} returned NaN or inf on {case.where} (the square root of a negative "
                             f"number, or a division by zero?).")


def _diagnose(ex: Exercise, got: torch.Tensor, expected: torch.Tensor, case: Case) -> str:
    """The first known mistake that `got` matches, or the largest error and where."""
    for mistake in ex.mistakes:
        try:
            with torch.no_grad():
                wrong = mistake.formula(*case.args)
        except (IndexError, RuntimeError):  # a mistake that cannot even run on this case (k + 1 at k = K)
            continue
        # Named only where it is far (3 tolerances) from the truth, so that float32 rounding is never a "mistake".
        if _close(got, wrong, ex.rtol, ex.atol) and not _close(wrong, expected, 3 * ex.rtol, 3 * ex.atol):
            return mistake.says
    if got.dim() == 0:
        return f"got {float(got):.6g}, expected {float(expected):.6g}; none of the common mistakes matches."
    err = (got.detach().double() - expected.double()).abs()
    index = tuple(int(i) for i in np.unravel_index(int(err.argmax()), err.shape))
    return (f"the largest error is {float(err[index]):.3g} at index {list(index)} (sample {index[0]}): got "
            f"{float(got[index]):.6g}, expected {float(expected[index]):.6g}; none of the common mistakes matches.")


def _check(ex: Exercise, fn: Callable, cases: Sequence[Case], what: str) -> Passed:
    """Run fn on every case, in order; the first case it gets wrong raises AssertionError with the diagnosis."""
    for i, case in enumerate(cases):
        got = _run(ex, fn, case)
        expected = ex.truth(*case.args)
        _check_tensor(ex, got, expected, case)
        if i == 0 and not _close(_run(ex, fn, case), got, ex.rtol, ex.atol):
            raise AssertionError(f"{ex.signature} gives different answers on the same inputs: it draws its own "
                                 f"random numbers. Use the k, eps (and z) it is given.")
        message = ex.validate(got, case) if ex.validate is not None else None
        if message is None and _close(got, expected, ex.rtol, ex.atol):
            continue
        message = message or _diagnose(ex, got, expected, case)
        raise AssertionError(f"{ex.signature} is wrong on {case.where}:\n  {message}\n  Expected: {ex.equation}")
    return Passed(f"Correct: {ex.signature} matches the reference on {len(cases)} cases ({what}).")


def _coef(table: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """table[k] as (B, 1, 1), the per-sample coefficient of a (B, H, act_dim) tensor."""
    return table[k].view(-1, 1, 1)


# An index error's hint, for every exercise that indexes the schedule's tables with k.
OUT_OF_BOUNDS_HINT = ("out of bounds", "the tables have K + 1 entries, k = 0..K (entry 0 the clean sample), and "
                                        "alpha_bar_k is schedule.alpha_bars[k]: k + 1 runs past the end at k = K.")
