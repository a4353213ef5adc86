"""Helpers only the notebooks use: the 2-D toy task, plots, animations, widgets and Pendulum drawing.

    schedule_plots.py   noise schedules and the forward process              (notebook 01)
    toy.py              the 2-D task with two equally good answers            (notebook 02)
    toy_plots.py        its plots, the reverse-diffusion GIF, a sampler widget (notebook 02)
    pendulum.py         Pendulum-v1 drawn: rollouts, animations, phase plots  (notebooks 03, 04, 06, 07)
    policy_plots.py     the timing diagram, a chunk denoised, an inference widget (notebooks 03, 04, 06)
    detour_plots.py     dpedu/Detour-v0: demonstrations, rollouts by side, plans, a rollout widget (notebook 05)
    unet_plots.py       the temporal U-Net drawn, side agreement, timings, the seed record (notebook 07)
    flow_plots.py       DDIM's and flow matching's ODEs on a two-blob target, the toy's sampling animated, the
                        flow record's tables                                          (notebook 12)
    teleop.py           Push-T demonstrations by hand: the mouse drives the agent at 10 Hz, episodes go to a
                        dataset (teleop.js draws the scene in the browser)          (notebook 08)
    book.py             the course as a static book: `python -m dpedu.course.book OUT` (docs/book/, docs/course.md)
    checkpoints/        trained policies the notebooks load instead of training again (notebooks 06, 07);
                        each notebook names the command that regenerates its files
"""

from collections.abc import Sequence
from pathlib import Path

CHECKPOINTS = Path(__file__).parent / "checkpoints"
LABEL = {"description_width": "initial"}  # widgets show labels in full ("n_action_steps", not "n_action_...")


def denoising_labels(timesteps: Sequence[int], what: str = "samples") -> list[str]:
    """One caption per frame of a reverse chain that visited `timesteps` (descending): frame i is x^k at
    k = timesteps[i], and the last frame the clean x^0.

    The diffusion steps are k = 0..K (notebook 01): the chain starts from x^K, pure noise, and its last step lands on
    the clean x^0 (alpha_bar_0 = 1).
    """
    S = len(timesteps)
    return ([f"$x^{{{timesteps[0]}}}$, pure noise"] + [f"step {i}/{S}: $x^{{{timesteps[i]}}}$" for i in range(1, S)]
            + [f"step {S}/{S}: the clean {what} $x^0$"])
