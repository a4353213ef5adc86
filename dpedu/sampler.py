"""`from dpedu.sampler import DDIMSampler`: the public import path (DESIGN.md).

The code lives in dpedu/diffusion/sampler.py."""

from dpedu.diffusion.sampler import SAMPLERS, DDIMSampler, DDPMSampler, Sampler, make_sampler, respaced_timesteps

__all__ = ["SAMPLERS", "DDIMSampler", "DDPMSampler", "Sampler", "make_sampler", "respaced_timesteps"]
