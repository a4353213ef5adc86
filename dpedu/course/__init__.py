"""Helpers only the notebooks use: the 2-D toy task, plots, animations, widgets and Pendulum drawing.

    schedule_plots.py   noise schedules and the forward process              (notebook 01)
    toy.py              the 2-D task with two equally good answers            (notebook 02)
    toy_plots.py        its plots, the reverse-diffusion GIF, a sampler widget (notebook 02)
    pendulum.py         Pendulum-v1 drawn: rollouts, animations, phase plots  (notebooks 03, 04, 06, 07)
    policy_plots.py     the timing diagram, a chunk denoised, an inference widget (notebooks 03, 04, 06)
    detour_plots.py     dpedu/Detour-v0: demonstrations, rollouts by side, plans, a rollout widget (notebook 05)
    unet_plots.py       the temporal U-Net drawn, side agreement, timings, the seed record (notebook 07)
    checkpoints/        trained policies the notebooks load instead of training again (notebooks 06, 07);
                        each notebook names the command that regenerates its files
"""

from pathlib import Path

CHECKPOINTS = Path(__file__).parent / "checkpoints"
LABEL = {"description_width": "initial"}  # widgets show labels in full ("n_action_steps", not "n_action_...")
