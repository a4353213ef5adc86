"""Exercise (notebook 10): IBC's InfoNCE loss, from the energies of the demonstrated chunk and its counter-examples."""

from __future__ import annotations

from collections.abc import Callable

import torch

from dpedu.baselines.ibc import info_nce_loss
from dpedu.course.exercises.checking import Case, Exercise, Mistake, Passed, _check, reports_not_attempted


def reference_info_nce(e_demo: torch.Tensor, e_counter: torch.Tensor) -> torch.Tensor:
    """InfoNCE (Florence et al. 2021, eq. 3): the demonstrated chunk against N counter-examples, as a classification.

        loss = -log( exp(-E(O, A^0)) / (exp(-E(O, A^0)) + sum_j exp(-E(O, A~_j))) ),  averaged over the batch

    e_demo (B,): E(O, A^0) of each demonstrated chunk; e_counter (B, N): the energies of its N counter-examples.
    Returns a scalar tensor.
    """
    logits = -torch.cat([e_demo[:, None], e_counter], dim=1)  # (B, 1 + N): low energy, high score
    return -torch.log_softmax(logits, dim=1)[:, 0].mean()  # the demonstration's log-probability, index 0


def _truth(e_demo: torch.Tensor, e_counter: torch.Tensor) -> torch.Tensor:
    """What EnergyNetwork.loss computes from the same energies (dpedu.baselines.ibc.info_nce_loss)."""
    return info_nce_loss(torch.cat([e_demo[:, None], e_counter], dim=1))


def _logits(e_demo, e_counter):
    return -torch.cat([e_demo[:, None], e_counter], dim=1)


INFO_NCE_MISTAKES = [
    Mistake("the energies were used as scores with their sign: low energy must mean likely, so the scores are -E "
            "(softmax of -E, not of E).",
            lambda d, c: -torch.log_softmax(-_logits(d, c), dim=1)[:, 0].mean()),
    Mistake("the denominator leaves out the demonstration itself: it sums exp(-E) over all 1 + N candidates, the "
            "demonstrated chunk included.",
            lambda d, c: (d + torch.logsumexp(-c, dim=1)).mean()),
    Mistake("the loss is summed over the batch: take the mean, as every loss in dpedu does.",
            lambda d, c: -torch.log_softmax(_logits(d, c), dim=1)[:, 0].sum()),
    Mistake("the softmax runs over the batch (dim 0): it must run over the 1 + N candidates of each demonstration "
            "(dim 1).",
            lambda d, c: -torch.log_softmax(_logits(d, c), dim=0)[:, 0].mean()),
    Mistake("the log-probability was not negated: the loss is -log p(A^0 | O, counter-examples), which is >= 0.",
            lambda d, c: torch.log_softmax(_logits(d, c), dim=1)[:, 0].mean()),
]


def _cases(seed: int = 0) -> list[Case]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    for batch, n, scale in [(4, 4, 1.0), (8, 64, 3.0), (3, 16, 30.0)]:  # the last: energies far apart (overflow?)
        e_demo = scale * torch.randn(batch, generator=g)
        e_counter = scale * torch.randn(batch, n, generator=g)
        cases.append(Case((e_demo, e_counter), f"e_demo {tuple(e_demo.shape)}, e_counter {tuple(e_counter.shape)} "
                                               f"(energies of spread {scale:g})"))
    return cases


INFO_NCE = Exercise("info_nce(e_demo, e_counter)",
                    "-log( exp(-e_demo) / (exp(-e_demo) + sum_j exp(-e_counter[:, j])) ), the mean over the batch "
                    "(torch.log_softmax over the 1 + N candidates keeps it finite)",
                    ("e_demo", "e_counter"), _truth, INFO_NCE_MISTAKES, rtol=1e-5, atol=1e-5,
                    hints=[("must match the size", "e_demo is (B,) and e_counter (B, N): put the demonstration in "
                            "front of its counter-examples with e_demo[:, None], shape (B, 1).")])


@reports_not_attempted("info_nce")
def check_info_nce(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's fn(e_demo, e_counter) -> loss against the loss EnergyNetwork trains with."""
    return _check(INFO_NCE, fn, _cases(), "N = 4, 64 and 16 counter-examples, energies close and far apart")
