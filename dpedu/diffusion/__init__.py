"""The mathematics of diffusion, and nothing else: the forward process and the reverse samplers.

    schedule.py   betas, alpha_bars (indexed by k = 0..K) and q(x^k | x^0)  (notebook 01)
    sampler.py    DDPM and DDIM reverse steps, respaced                (notebooks 02 and 06)
"""

from dpedu.diffusion.sampler import DDIMSampler, DDPMSampler, Sampler, make_sampler
from dpedu.diffusion.schedule import NoiseSchedule

__all__ = ["DDIMSampler", "DDPMSampler", "NoiseSchedule", "Sampler", "make_sampler"]
