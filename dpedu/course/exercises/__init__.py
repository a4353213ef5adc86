r"""Exercises, one module each: the learner writes four pieces of DDPM; a checker compares each with the package
and names the mistake.

    the learner writes (exact signature)                        checker                   reference solution
    add_noise(schedule, x0, k, eps) -> x^k                       check_add_noise(fn)       reference_add_noise
    diffusion_loss(model, schedule, obs, a0, k, eps) -> loss     check_diffusion_loss(fn)  reference_diffusion_loss
    reverse_step(schedule, x_k, eps, k, z) -> x^{k-1}            check_reverse_step(fn)    reference_reverse_step
    ddim_step(schedule, x_k, eps, k, s) -> x^s  (optional)       check_ddim_step(fn)       reference_ddim_step

A checker calls the learner's function on a few fixed random cases (cosine and linear schedules, several K, small
and large k) and compares it with the package's own code: NoiseSchedule.add_noise, trainer.diffusion_loss,
DDPMSampler / DDIMSampler with clip_sample=False. When an answer is off it evaluates the usual wrong formulas on
the same inputs and names the one the answer matches; when none does it reports the largest error and where.
Either way it raises AssertionError with a message for the learner; a right answer returns a one-line message.

Diffusion steps count k = 0..K as everywhere in dpedu (Ho et al.'s t = 0..T, Chi et al.'s k): k = 0 is the clean
sample, schedule.alpha_bars[k] is alpha_bar_k, and alpha_bar_0 = 1.
"""

from dpedu.course.exercises.add_noise import check_add_noise, reference_add_noise
from dpedu.course.exercises.checking import NotAttempted, Passed
from dpedu.course.exercises.ddim_step import check_ddim_step, reference_ddim_step
from dpedu.course.exercises.diffusion_loss import check_diffusion_loss, reference_diffusion_loss
from dpedu.course.exercises.reverse_step import check_reverse_step, reference_reverse_step

__all__ = ["NotAttempted", "Passed", "check_add_noise", "check_ddim_step", "check_diffusion_loss", "check_reverse_step",
           "reference_add_noise", "reference_ddim_step", "reference_diffusion_loss", "reference_reverse_step"]
