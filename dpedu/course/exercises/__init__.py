r"""Exercises, one module each: the learner writes four pieces of DDPM; a checker compares each with the package
and names the mistake.

    the learner writes (exact signature)                        checker                   reference solution
    add_noise(schedule, x0, t, eps) -> x_t                       check_add_noise(fn)       reference_add_noise
    diffusion_loss(model, schedule, obs, a0, t, eps) -> loss     check_diffusion_loss(fn)  reference_diffusion_loss
    reverse_step(schedule, x_t, eps, t, z) -> x_{t-1}            check_reverse_step(fn)    reference_reverse_step
    ddim_step(schedule, x_t, eps, t, s) -> x_s  (optional)       check_ddim_step(fn)       reference_ddim_step

A checker calls the learner's function on a few fixed random cases (cosine and linear schedules, several T, small
and large t) and compares it with the package's own code: NoiseSchedule.add_noise, trainer.diffusion_loss,
DDPMSampler / DDIMSampler with clip_sample=False. When an answer is off it evaluates the usual wrong formulas on
the same inputs and names the one the answer matches; when none does it reports the largest error and where.
Either way it raises AssertionError with a message for the learner; a right answer returns a one-line message.

Timesteps count t = 0..T-1 as everywhere in dpedu (Ho et al. count 1..T): schedule.alpha_bars[t] is alpha_bar_t,
and alpha_bar_{-1} = 1 (before the first step nothing is noised).
"""

from dpedu.course.exercises.add_noise import check_add_noise, reference_add_noise
from dpedu.course.exercises.checking import NotAttempted, Passed
from dpedu.course.exercises.ddim_step import check_ddim_step, reference_ddim_step
from dpedu.course.exercises.diffusion_loss import check_diffusion_loss, reference_diffusion_loss
from dpedu.course.exercises.reverse_step import check_reverse_step, reference_reverse_step

__all__ = ["NotAttempted", "Passed", "check_add_noise", "check_ddim_step", "check_diffusion_loss", "check_reverse_step",
           "reference_add_noise", "reference_ddim_step", "reference_diffusion_loss", "reference_reverse_step"]
