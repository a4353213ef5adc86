r"""Flow matching: a straight path from noise to actions, and a network that learns its velocity. Notebook 12.

Conditional flow matching (Lipman et al. 2023) with the straight path of rectified flow (Liu et al. 2023), the
objective of pi_0's action expert. In pi_0's convention time runs the other way from DDPM's: tau = 0 is the noise,
tau = 1 the action chunk. So that no symbol means two things, this module writes A for the demonstrated (clean)
chunk (DDPM's A^0) and eps for the noise (DDPM's A^K):

    A^tau = (1 - tau) eps + tau A,       eps ~ N(0, I),  tau ~ U[0, 1)
    its velocity along the path:  d A^tau / d tau = A - eps          (the same at every tau: a straight line)
    loss  = || (A - eps) - v_theta(A^tau, tau, o) ||^2

The network cannot know which (eps, A) pair a point A^tau came from, so it learns the average velocity through that
point, v*(x, tau) = E[A - eps | A^tau = x]. Paths that follow v* (the ODE dA/dtau = v*(A, tau), from A^0 ~ N(0, I) to
tau = 1) carry the noise distribution to the data's (Liu et al., Theorem 3.3). Sampling integrates that ODE with S
Euler steps of size 1/S:

    A <- eps;   for i = 0..S-1:  A <- A + (1/S) v_theta(A, i/S, o);   then A is clipped to [-1, 1]

One step gives A = eps + v*(eps, 0) = E[A]: the mean of the data, the answer regression gives (two modes averaged
into a path through the obstacle). The field is straight for each pair, not for the average: where demonstrations
disagree the paths bend, and a few steps are needed to follow them.

Reflow (Liu et al. 2023, sec. 2.3) makes them straight: train the same loss again, but pair each noise eps with
the chunk the trained flow carries it to, A = ODE(eps, o), instead of with a random demonstration. That coupling is
deterministic, so the paths it asks for do not cross, and one Euler step lands where the teacher's many steps did.
`flow_loss(..., teacher=...)` is that loss; `Trainer("reflow", teacher=flow_policy)` trains with it.

The networks embed the diffusion step k as emb(k - 1) (dpedu/networks/embedding.py). Flow time is continuous, so a
flow network is given k = 1 + TIME_SCALE tau: it sees emb(TIME_SCALE tau), tau in [0, 1) spread over the same
range of the embedding as DDPM's k = 1..100.

Glossary (code name: symbol): a0: A (the demonstrated chunk); eps: the noise eps (pi_0's A^0); a_tau: A^tau;
velocity: v_theta; tau: tau.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from dpedu.diffusion.sampler import starting_noise

TIME_SCALE = 100.0  # tau in [0, 1) -> the network's step input 1 + TIME_SCALE tau (see the module docstring)

Model = Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor]
# A reflow teacher: (eps (B, H, act_dim), obs) -> the chunk its ODE carries eps to (B, H, act_dim), normalised.
Teacher = Callable[[torch.Tensor, object], torch.Tensor]


def network_time(tau: torch.Tensor) -> torch.Tensor:
    """The step input a flow network is given at time tau (B,): 1 + TIME_SCALE tau, so that it embeds TIME_SCALE tau."""
    return 1.0 + TIME_SCALE * tau


def interpolate(eps: torch.Tensor, a0: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """A^tau = (1 - tau) eps + tau A: the point at time tau (B,) on each straight path from eps to a0 (B, ...)."""
    tau = tau.reshape(-1, *([1] * (a0.dim() - 1)))  # (B, 1, 1): one time per chunk
    return (1.0 - tau) * eps + tau * a0


def flow_loss(model: Model, obs: object, a0: torch.Tensor, tau: torch.Tensor | None = None,
              eps: torch.Tensor | None = None, generator: torch.Generator | None = None,
              teacher: Teacher | None = None) -> torch.Tensor:
    """The flow matching loss on one batch: || (A - eps) - v_theta(A^tau, tau, obs) ||^2.

    obs: the normalised windows (B, To, obs_dim) (or their features); a0 = A (B, H, act_dim), normalised. tau ~
    U[0, 1) (B,) and eps ~ N(0, I) like a0 are drawn from `generator` unless given. teacher: reflow: A is the chunk the
    teacher carries this very eps to, teacher(eps, obs), and a0 only gives the shape. Returns the mean over the batch
    and the chunk's entries.
    """
    if eps is None:
        eps = torch.randn(a0.shape, generator=generator, device=a0.device)  # (B, H, act_dim)
    if tau is None:
        tau = torch.rand(a0.shape[0], generator=generator, device=a0.device)  # (B,)
    if teacher is not None:
        with torch.no_grad():
            a0 = teacher(eps, obs)  # the reflow coupling: (eps, the teacher's answer to eps)
    a_tau = interpolate(eps, a0, tau)
    return F.mse_loss(model(a_tau, network_time(tau), obs), a0 - eps)


class EulerSampler:
    """Integrate dA/dtau = v_theta(A, tau, o) from tau = 0 (noise) to 1 (the chunk) with S equal Euler steps.

    Args:
        n_inference_steps: S, network evaluations per plan, an int >= 1.
        clip_sample: clip the final chunk to [-1, 1], the range the actions were normalised to (DDPM's samplers clip
            their estimate of the clean chunk at every step; a flow has one estimate, at the end).
        device: where the starting noise is drawn.
    """

    def __init__(self, n_inference_steps: int = 10, clip_sample: bool = True, device: torch.device | str = "cpu"):
        if isinstance(n_inference_steps, bool) or not isinstance(n_inference_steps, int) or n_inference_steps < 1:
            raise ValueError(f"n_inference_steps must be an int >= 1 (Euler steps per plan), got {n_inference_steps!r}")
        self.n_inference_steps, self.clip_sample, self.device = n_inference_steps, bool(clip_sample), device
        self.taus = [i / n_inference_steps for i in range(n_inference_steps)]  # the times each step starts from

    def step(self, a_tau: torch.Tensor, velocity: torch.Tensor, tau: float, tau_next: float) -> torch.Tensor:
        """One Euler step from tau to tau_next: A^{tau_next} = A^tau + (tau_next - tau) v."""
        return a_tau + (tau_next - tau) * velocity

    @torch.inference_mode()
    def sample(self, model: Model, shape: tuple[int, ...], cond: object = None,
               generator: torch.Generator | None = None, x_K: torch.Tensor | None = None,
               return_trajectory: bool = False, x_T: torch.Tensor | None = None):
        """Chunks (shape) from noise eps ~ N(0, I), or from x_K (the starting noise, named as DDPM's samplers name it,
        so that a policy's denoise() hands it to either; x_T, its former name, too). With return_trajectory, also every
        point visited, (S + 1, *shape), the noise first, the (clipped) chunk last."""
        x_K, shape = starting_noise(x_K, x_T), tuple(shape)
        if x_K is None:
            a = torch.randn(shape, generator=generator, device=self.device)
        elif tuple(x_K.shape) != shape:
            raise ValueError(f"x_K has shape {tuple(x_K.shape)}, expected {shape}")
        else:
            a = x_K.to(device=self.device, dtype=torch.float32)
        trajectory = [a]
        for tau, tau_next in zip(self.taus, [*self.taus[1:], 1.0]):
            t = torch.full((shape[0],), tau, device=a.device)
            a = self.step(a, model(a, network_time(t), cond), tau, tau_next)
            trajectory.append(a)
        if self.clip_sample:
            a = trajectory[-1] = a.clamp(-1.0, 1.0)
        return (a, torch.stack(trajectory)) if return_trajectory else a

    def __repr__(self) -> str:
        return f"EulerSampler(n_inference_steps={self.n_inference_steps}, clip_sample={self.clip_sample})"
