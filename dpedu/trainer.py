"""Trainer: collect demonstrations, train eps_theta with the DDPM loss, keep an EMA, report metrics.

The training rule of `train(total_timesteps)`, step by step (as an off-policy RL library does):

    for each of total_timesteps environment steps:
        the demonstrator acts, the environment steps; the step joins the current episode
        when the episode ends it enters the FIFO buffer (buffer_size steps) and a new one begins
        if warmup_steps steps have been collected, the buffer holds a finished episode, and the step
        count is a multiple of train_freq: do gradient_steps gradient updates

With the defaults (warmup 500, train_freq 1, gradient_steps 1) train(50_000) makes 49_500 updates
on 250 episodes. The normalisers are fitted just before the first update: observations min-max over
the buffer, actions to the action space's bounds (so clipping x0 to [-1, 1] is the torque limit).

One gradient update (Ho et al. 2020, Algorithm 1, with the observation window as condition):

    (obs, a_0) ~ buffer,  t ~ U{0..T-1},  eps ~ N(0, I)
    a_t  = sqrt(alpha_bar_t) a_0 + sqrt(1 - alpha_bar_t) eps
    loss = || eps - eps_theta(a_t, t, obs) ||^2
"""

from __future__ import annotations

import copy
import math
import signal
import threading
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dpedu import distributed
from dpedu.checkpoint import (
    atomic_save,
    checkpoint_header,
    cpu_state_dict,
    env_state,
    load_checkpoint,
    set_env_state,
    stack_or_empty,
    unstack,
)
from dpedu.config import DPConfig, resolve_device
from dpedu.data import Normalizer, ReplayBuffer
from dpedu.evaluate import check_env_id, evaluate_policy
from dpedu.experts import make_demonstrator
from dpedu.policy import DiffusionPolicy, build_denoiser
from dpedu.schedule import NoiseSchedule

ALGORITHMS = ("diffusion",)
TRAINER_FORMAT, TRAINER_FORMAT_VERSION = "dpedu.trainer", 1
LOG_INTERVAL = 100  # updates per entry of the loss history (and per NaN check); metrics' loss averages as many


class DeferredInterrupt:
    """Within `with`: the first SIGINT only sets `requested` (the loop stops at a step boundary), a second
    one raises KeyboardInterrupt at once. Outside the main thread signals cannot be caught: a no-op."""

    def __init__(self, enabled: bool = True):
        self.requested, self.enabled = False, enabled
        self._previous = None

    def _handler(self, signum, frame):
        if self.requested:  # pressed twice: the learner wants out now
            signal.signal(signal.SIGINT, self._previous)
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> DeferredInterrupt:
        if self.enabled and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler) or signal.default_int_handler
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def diffusion_loss(model, schedule: NoiseSchedule, obs: torch.Tensor, a0: torch.Tensor, t: torch.Tensor,
                   eps: torch.Tensor) -> torch.Tensor:
    """|| eps - eps_theta(sqrt(alpha_bar_t) a0 + sqrt(1 - alpha_bar_t) eps, t, obs) ||^2, mean over the batch."""
    a_t = schedule.add_noise(a0, t, eps)
    return F.mse_loss(model(a_t, t, obs), eps)


class Trainer:
    """Train a diffusion policy on demonstrations of a gymnasium environment.

    Args:
        algorithm: "diffusion".
        env: a gymnasium id with a built-in demonstrator ("Pendulum-v1").
        seed: seeds everything; overrides config["seed"] (giving both, different, is an error).
        config: dict of DPConfig overrides (DPConfig.describe() lists them).
        progress: show a tqdm progress bar during train().

    Several processes (`torchrun --nproc_per_node=N -m dpedu train ...`, see dpedu/distributed.py): when
    torch.distributed is initialised with world size N > 1, rank r collects its own demonstrations and
    draws its own batches and noise with seed + r * distributed.RANK_SEED_STRIDE, every rank builds the
    same initial weights from `seed`, and DistributedDataParallel averages the gradients: one update sees
    a global batch of N * batch_size samples and the weights and EMA stay identical on every rank. The
    normalisers use the min/max over all ranks' buffers; loss_history entries are means over the ranks
    (the final metrics' loss, for updates after the last full interval, is this rank's own); only rank 0
    shows a progress bar. In a single process none of this happens and the numbers are unchanged.
    """

    def __init__(self, algorithm: str = "diffusion", env: str = "Pendulum-v1", seed: int | None = None,
                 config: dict | None = None, progress: bool = True):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}; available: {ALGORITHMS}")
        if config is not None and not isinstance(config, dict):
            raise TypeError(f"config must be a dict of hyperparameters, got {type(config).__name__}")
        config = dict(config or {})
        if seed is not None:
            if "seed" in config and config["seed"] != seed:
                raise ValueError(f"seed={seed!r} and config['seed']={config['seed']!r} disagree; give one")
            config["seed"] = seed
        self.config = cfg = DPConfig.from_dict(config)
        self.env_id, self.progress = env, progress
        self.action_space = check_env_id(env)
        # Under torchrun each rank collects its own data; data_seed == cfg.seed in a single process.
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        data_seed = cfg.seed + self.rank * distributed.RANK_SEED_STRIDE
        self.demonstrator = make_demonstrator(env, data_seed)
        self.device = resolve_device(cfg.device)
        if self.world_size > 1 and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())  # cuda:LOCAL_RANK, set by torchrun

        self.env = gym.make(env)
        self._obs, _ = self.env.reset(seed=data_seed)
        self.obs_dim, self.act_dim = self.env.observation_space.shape[0], self.action_space.shape[0]
        self._episode: tuple[list, list] = ([], [])
        self.buffer = ReplayBuffer(cfg.buffer_size, self.obs_dim, self.act_dim, self.device)

        with torch.random.fork_rng(devices=[]):  # seeded weights without touching the global RNG
            torch.manual_seed(cfg.seed)
            self.model = build_denoiser(cfg, self.obs_dim, self.act_dim).to(self.device)
        # The policy acts with an exponential moving average of the weights (ema_model), updated in place.
        self.ema_model = copy.deepcopy(self.model).requires_grad_(False)
        self._params, self._ema_params = list(self.model.parameters()), list(self.ema_model.parameters())
        fused = self.device.type in ("cuda", "cpu")
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.learning_rate, fused=fused)
        # With several ranks DDP averages the gradients in backward(). It is used for the forward in _update
        # only: self.model stays the plain module (state_dicts without "module.", the EMA code unchanged).
        self._ddp = None
        if self.world_size > 1:
            self._ddp = torch.nn.parallel.DistributedDataParallel(  # broadcasts rank 0's weights and buffers
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            self._ddp.broadcast_buffers = False  # the only buffers are constants: no re-send every forward
        self.schedule = NoiseSchedule(cfg.n_diffusion_steps, cfg.noise_schedule, cfg.beta_start, cfg.beta_end,
                                      self.device)
        self.generator = torch.Generator(self.device).manual_seed(data_seed)
        self.obs_normalizer: Normalizer | None = None
        self.act_normalizer: Normalizer | None = None
        self._policy: DiffusionPolicy | None = None
        self.env_steps = self.n_updates = self.episodes = 0
        self.loss_history: list[tuple[int, float]] = []  # (updates so far, mean loss of the last interval)
        self._recent_losses = torch.zeros(LOG_INTERVAL, device=self.device)
        self.timings = {"collect_s": 0.0, "update_s": 0.0}

    # ------------------------------------------------------------------ training

    def train(self, total_timesteps: int) -> dict:
        """Collect total_timesteps demonstration steps, updating the network as the module docstring says.

        Returns a metrics dict: loss (mean over the last 100 updates), loss_history ((updates, mean loss of
        those 100) every 100 updates), n_updates,
        env_steps, episodes, wall_time_s, collect_s, update_s, updates_per_s.
        """
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, int) or total_timesteps < 1:
            raise ValueError(f"total_timesteps must be an int >= 1, got {total_timesteps!r}")
        cfg = self.config
        start = time.perf_counter()
        bar = tqdm(total=total_timesteps, unit="step", disable=not self.progress or self.rank != 0,
                   desc="train", smoothing=0.05)
        # Ctrl-C (Jupyter's stop button) takes effect at the end of the current step, so the trainer stays
        # consistent and train() called again goes on from there. A second Ctrl-C stops at once. Not with
        # several ranks: one rank stopping alone would leave the others waiting in a collective.
        interrupt = DeferredInterrupt(enabled=self.world_size == 1)
        done = 0
        try:
            with interrupt:
                for done in range(1, total_timesteps + 1):
                    t0 = time.perf_counter()
                    self._collect_step()
                    t1 = time.perf_counter()
                    self.timings["collect_s"] += t1 - t0
                    if (self.env_steps >= cfg.warmup_steps and len(self.buffer) > 0
                            and self.env_steps % cfg.train_freq == 0):
                        for _ in range(cfg.gradient_steps):
                            self._update()
                        self.timings["update_s"] += time.perf_counter() - t1
                    if done % 100 == 0 or done == total_timesteps or interrupt.requested:
                        bar.update(done - bar.n)
                        if self.loss_history:
                            bar.set_postfix(loss=f"{self.loss_history[-1][1]:.4f}", updates=self.n_updates,
                                            refresh=False)
                    if interrupt.requested:
                        break
        finally:
            bar.close()
        if interrupt.requested and done < total_timesteps:
            raise KeyboardInterrupt(
                f"training interrupted after {done} of {total_timesteps} steps ({self.env_steps} env steps, "
                f"{self.n_updates} updates in all); the trainer is consistent: train({total_timesteps - done}) "
                "finishes the run")
        return self.metrics(wall_time_s=time.perf_counter() - start)

    def _collect_step(self) -> None:
        obs = self._obs
        action = self.demonstrator.act(obs)
        next_obs, _, terminated, truncated, _ = self.env.step(action)
        self._episode[0].append(obs)
        self._episode[1].append(action)
        self.env_steps += 1
        if terminated or truncated:
            self.buffer.add_episode(np.stack(self._episode[0]), np.stack(self._episode[1]))
            self.episodes += 1
            self._episode = ([], [])
            self.demonstrator.reset()
            next_obs, _ = self.env.reset()
        self._obs = next_obs

    def _fit_normalizers(self) -> None:
        def fit(x) -> Normalizer:  # with several ranks: min and max over every rank's buffer, so all agree
            norm = Normalizer.fit(x)
            if self._ddp is None:
                return norm
            return Normalizer(distributed.all_reduce_(norm.low.to(self.device), "min"),
                              distributed.all_reduce_(norm.high.to(self.device), "max"))

        self.obs_normalizer = fit(self.buffer.all_obs()).to(self.device)
        low, high = self.action_space.low, self.action_space.high
        bounded = np.isfinite(low).all() and np.isfinite(high).all()
        self.act_normalizer = (Normalizer(low, high) if bounded else fit(self.buffer.all_act())).to(
            self.device)

    def _update(self) -> None:
        cfg = self.config
        if self.obs_normalizer is None:
            self._fit_normalizers()
        obs, actions = self.buffer.sample(cfg.batch_size, cfg.obs_horizon, cfg.action_horizon, self.generator)
        obs = self.obs_normalizer.normalize(obs)  # (B, To, obs_dim)
        a0 = self.act_normalizer.normalize(actions)  # (B, H, act_dim)
        t = torch.randint(0, cfg.n_diffusion_steps, (cfg.batch_size,), generator=self.generator, device=self.device)
        eps = torch.randn(a0.shape, generator=self.generator, device=self.device)
        model = self.model if self._ddp is None else self._ddp  # DDP: gradients averaged over the ranks
        loss = diffusion_loss(model, self.schedule, obs, a0, t, eps)

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self._update_ema()
        self._policy = None  # weights changed

        k = self.n_updates % LOG_INTERVAL
        self._recent_losses[k] = loss.detach()  # a ring of the last LOG_INTERVAL losses
        self.n_updates += 1
        if k == LOG_INTERVAL - 1:
            if self._ddp is not None:  # log the mean over the ranks; a NaN on any rank stops them all at once
                distributed.all_reduce_(self._recent_losses, "mean")
            self.loss_history.append((self.n_updates, self._check_losses(LOG_INTERVAL)))

    def _update_ema(self) -> None:
        """theta_ema <- decay theta_ema + (1 - decay) theta, one fused op over all weights.

        The decay ramps up as min(ema_decay, (1 + n) / (10 + n)) over the first updates (as TensorFlow's
        ExponentialMovingAverage does), so a short run's average is not dominated by the initial weights.
        """
        decay = min(self.config.ema_decay, (1 + self.n_updates) / (10 + self.n_updates))
        with torch.no_grad():
            torch._foreach_lerp_(self._ema_params, self._params, 1.0 - decay)

    def _check_losses(self, n: int) -> float:
        """Mean of the newest n losses in the ring; stops training at a non-finite one. One host sync."""
        ring = self._recent_losses.tolist()
        end = self.n_updates % LOG_INTERVAL or LOG_INTERVAL
        losses = (ring[end:] + ring[:end])[-n:]  # oldest first
        bad = [i for i, v in enumerate(losses) if not math.isfinite(v)]
        if bad:
            step = self.n_updates - n + bad[0] + 1
            raise FloatingPointError(
                f"loss became {losses[bad[0]]} at gradient update {step}: training stopped. Likely causes: "
                f"learning_rate too high ({self.config.learning_rate}), no gradient clipping (max_grad_norm), "
                "or non-finite demonstrations")
        return sum(losses) / n

    def metrics(self, **extra) -> dict:
        """The metrics dict train() returns, for the training done so far."""
        loss = self._check_losses(min(self.n_updates, LOG_INTERVAL)) if self.n_updates else float("nan")
        update_s = self.timings["update_s"]
        return {
            "loss": loss,
            "loss_history": list(self.loss_history),
            "n_updates": self.n_updates,
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            **{k: round(v, 3) for k, v in self.timings.items()},
            "updates_per_s": round(self.n_updates / update_s, 1) if update_s else 0.0,
            **extra,
        }

    # ------------------------------------------------------------------ the result

    @property
    def policy(self) -> DiffusionPolicy:
        """The policy acting with the EMA weights (rebuilt after further training)."""
        if self.obs_normalizer is None:
            raise RuntimeError("no gradient update yet: call train() with total_timesteps > warmup_steps first")
        if self._policy is None:
            model = build_denoiser(self.config, self.obs_dim, self.act_dim)
            model.load_state_dict(self.ema_model.state_dict())
            self._policy = DiffusionPolicy(self.config, model, self.obs_normalizer, self.act_normalizer,
                                           env_id=self.env_id, device=self.device)
        return self._policy

    def evaluate(self, n_episodes: int = 20, seed: int = 0, n_envs: int | None = None) -> dict:
        """Mean/std return of the policy over n_episodes fresh episodes (see evaluate.evaluate_policy)."""
        return evaluate_policy(self.policy, self.env_id, n_episodes, seed, n_envs)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """Everything train() depends on, as tensors and plain Python (torch.load weights_only-safe):
        weights, EMA, optimiser, normalisers, counters, loss history, the buffer, the episode in progress,
        the environment's and the demonstrator's state, and the random generator."""
        return {
            **checkpoint_header(TRAINER_FORMAT, TRAINER_FORMAT_VERSION),
            "env_id": self.env_id,
            "config": self.config.to_dict(),
            "model": cpu_state_dict(self.model),
            "ema_model": cpu_state_dict(self.ema_model),
            "optimizer": self.optimizer.state_dict(),
            "obs_normalizer": None if self.obs_normalizer is None else self.obs_normalizer.state_dict(),
            "act_normalizer": None if self.act_normalizer is None else self.act_normalizer.state_dict(),
            "counters": {"env_steps": self.env_steps, "n_updates": self.n_updates, "episodes": self.episodes},
            "loss_history": [list(entry) for entry in self.loss_history],
            "recent_losses": self._recent_losses.cpu(),
            "timings": dict(self.timings),
            "generator": self.generator.get_state(),
            "buffer": self.buffer.state_dict(),
            "episode": {"obs": stack_or_empty(self._episode[0], self.obs_dim),
                        "act": stack_or_empty(self._episode[1], self.act_dim)},
            "obs": torch.from_numpy(np.array(self._obs)),
            "env": env_state(self.env),
            "demonstrator": self.demonstrator.state_dict(),
        }

    def save(self, path) -> Path:
        """Write a checkpoint train() can resume from (Trainer.load), atomically. The policy alone: policy.save.

        Single process only: under torchrun each rank holds its own data, which one file cannot resume.
        """
        if self.world_size > 1:
            raise RuntimeError(f"Trainer.save({str(path)!r}) under torchrun ({self.world_size} ranks): a trainer "
                               "checkpoint holds one process's data and random state; save the policy "
                               "(trainer.policy.save) or train in a single process to resume")
        return atomic_save(self.state_dict(), path)

    @classmethod
    def load(cls, path, progress: bool = True, device=None) -> Trainer:
        """A trainer in the state save() recorded; its train() continues bit for bit (same machine, CPU).

        device: where to continue (None: the saved config's device, "auto" by default).
        """
        state = load_checkpoint(path, TRAINER_FORMAT, TRAINER_FORMAT_VERSION)
        try:
            config = state["config"] if device is None else {**state["config"], "device": str(device)}
            trainer = cls("diffusion", env=state["env_id"], config=config, progress=progress)
            trainer._load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"{path}: trainer checkpoint content is inconsistent: {type(e).__name__}: {e}") from e
        return trainer

    def _load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.ema_model.load_state_dict(state["ema_model"])
        self.optimizer.load_state_dict(state["optimizer"])
        norm = lambda s: None if s is None else Normalizer.from_state_dict(s).to(self.device)  # noqa: E731
        self.obs_normalizer, self.act_normalizer = norm(state["obs_normalizer"]), norm(state["act_normalizer"])
        counters = state["counters"]
        self.env_steps, self.n_updates, self.episodes = (counters["env_steps"], counters["n_updates"],
                                                         counters["episodes"])
        self.loss_history = [tuple(entry) for entry in state["loss_history"]]
        self._recent_losses.copy_(state["recent_losses"])
        self.timings = dict(state["timings"])
        self.generator.set_state(state["generator"])
        self.buffer.load_state_dict(state["buffer"])
        self._episode = (unstack(state["episode"]["obs"]), unstack(state["episode"]["act"]))
        self._obs = state["obs"].numpy().copy()
        set_env_state(self.env, state["env"])
        self.demonstrator.load_state_dict(state["demonstrator"])
        self._policy = None
