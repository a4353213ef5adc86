"""The mathematics of diffusion, and nothing else: the forward process and the reverse samplers.

    schedule.py   betas, alpha_bars (indexed by k = 0..K) and q(x^k | x^0)  (notebook 01)
    sampler.py    DDPM and DDIM reverse steps, respaced                (notebooks 02 and 06)
    flow.py       flow matching: the straight path, its loss, Euler steps, reflow   (notebook 12)
"""

from dpedu.diffusion.flow import EulerSampler, flow_loss
from dpedu.diffusion.sampler import DDIMSampler, DDPMSampler, Sampler, make_sampler
from dpedu.diffusion.schedule import NoiseSchedule

__all__ = ["DDIMSampler", "DDPMSampler", "EulerSampler", "NoiseSchedule", "Sampler", "flow_loss", "make_sampler"]
