r"""Exercises, one module each: the learner writes four pieces of DDPM and five of Diffusion Policy; a checker
compares each with the package and names the mistake.

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

Diffusion steps count k = 0..K as everywhere in dpedu (Ho et al.'s t, Chi et al.'s k): k = 0 is the clean
sample, schedule.alpha_bars[k] is alpha_bar_k, and alpha_bar_0 = 1.

Five more exercises are on Diffusion Policy itself; their checkers compare with the code the trainer and the policy
run (data.window_indices, policy.RecedingHorizon, trainer.AdamWithEMA.update, unet1d.FiLMResidualBlock, a real
UNet1DDenoiser measured level by level):

    the learner writes (exact signature)                        checker                   notebook
    obs_window(episode_obs, t, obs_horizon) -> (To, obs_dim)     check_obs_window(fn)      03
    training_update(model, ema_model, optimizer, schedule,       check_training_update(fn) 04
                    obs, a0, k, eps, ema_decay) -> float loss
    receding_horizon(plan, env_step, obs, n_steps,               check_receding_horizon(fn) 06
                     n_action_steps) -> (n_steps, act_dim)
    film(h, cond, linear) -> h                                   check_film(fn)            07
    unet_lengths(action_horizon, levels) -> list of lengths      check_unet_lengths(fn)    07

And one on a baseline (dpedu.baselines.ibc.info_nce_loss, what EnergyNetwork.loss trains with):

    info_nce(e_demo, e_counter) -> loss                          check_info_nce(fn)        10

And one on the transformer (torch's scaled_dot_product_attention, what its nn.MultiheadAttention layers run):

    attention(q, k, v, mask) -> (B, Lq, dv)                      check_attention(fn)       11

And one on flow matching (dpedu.diffusion.flow.flow_loss, what Trainer("flow") trains with):

    flow_loss(model, obs, a0, tau, eps) -> loss                  check_flow_loss(fn)       12

Each has its reference solution as reference_<name>.
"""

from dpedu.course.exercises.add_noise import check_add_noise, reference_add_noise
from dpedu.course.exercises.attention import check_attention, reference_attention
from dpedu.course.exercises.checking import NotAttempted, Passed
from dpedu.course.exercises.ddim_step import check_ddim_step, reference_ddim_step
from dpedu.course.exercises.diffusion_loss import check_diffusion_loss, reference_diffusion_loss
from dpedu.course.exercises.film import check_film, reference_film
from dpedu.course.exercises.flow_loss import check_flow_loss, reference_flow_loss
from dpedu.course.exercises.info_nce import check_info_nce, reference_info_nce
from dpedu.course.exercises.obs_window import check_obs_window, reference_obs_window
from dpedu.course.exercises.receding_horizon import check_receding_horizon, reference_receding_horizon
from dpedu.course.exercises.reverse_step import check_reverse_step, reference_reverse_step
from dpedu.course.exercises.training_update import check_training_update, reference_training_update
from dpedu.course.exercises.unet_lengths import check_unet_lengths, reference_unet_lengths

__all__ = ["NotAttempted", "Passed", "check_add_noise", "check_ddim_step", "check_diffusion_loss", "check_reverse_step",
           "reference_add_noise", "reference_ddim_step", "reference_diffusion_loss", "reference_reverse_step",
           "check_film", "check_obs_window", "check_receding_horizon", "check_training_update", "check_unet_lengths",
           "reference_film", "reference_obs_window", "reference_receding_horizon", "reference_training_update",
           "reference_unet_lengths", "check_info_nce", "reference_info_nce",
           "check_attention", "reference_attention", "check_flow_loss", "reference_flow_loss"]
