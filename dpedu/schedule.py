"""`from dpedu.schedule import NoiseSchedule`: the public import path (DESIGN.md).

The code lives in dpedu/diffusion/schedule.py."""

from dpedu.diffusion.schedule import SCHEDULE_KINDS, NoiseSchedule, cosine_betas, linear_betas

__all__ = ["SCHEDULE_KINDS", "NoiseSchedule", "cosine_betas", "linear_betas"]
