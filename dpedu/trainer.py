"""Trainer: collect demonstrations, train the denoiser with the DDPM loss, keep an EMA, report metrics. Notebook 04.

The training rule of `train(total_timesteps)`, step by step (as an off-policy RL library does):

    for each of total_timesteps environment steps:
        the demonstrator acts (its action is recorded; the environment executes demonstrator.explore(action),
        the same action except where a task adds DART noise); the step joins the current episode
        when the episode ends it enters the FIFO buffer (buffer_size steps) and a new one begins
        if warmup_steps steps have been collected, the buffer holds a finished episode, and the step
        count is a multiple of train_freq: do gradient_steps gradient updates

With the defaults (warmup 500, train_freq 1, gradient_steps 1) train(50_000) makes 49_501 updates
on 250 episodes. The normalisers are fitted just before the first update: observations min-max over
the buffer, actions to the action space's bounds (so clipping x^0's estimate to [-1, 1] is the action limit).

Offline (the paper's setting), `Trainer(..., dataset=path)`: the buffer holds a fixed dataset of demonstrations
(dpedu/datasets.py), loaded once; there is no demonstrator, no DART and no collection, and train(n_updates=N)
makes N gradient updates. Everything else below is the same.

One gradient update (Ho et al. 2020, Algorithm 1, with the observation window as condition):

    (o, A^0) ~ buffer,  k ~ U{1..K},  eps ~ N(0, I)
    A^k  = sqrt(alpha_bar_k) A^0 + sqrt(1 - alpha_bar_k) eps
    loss = || eps - eps_theta(A^k, k, o) ||^2          prediction_type "epsilon" (Chi et al.)
           || A^0 - A_theta^0(A^k, k, o) ||^2          prediction_type "sample"
    theta <- Adam(theta, grad loss);   theta_ema <- decay theta_ema + (1 - decay) theta

(The squared norms are computed as means over the batch and the chunk's entries.)

The policy acts with theta_ema. Everything that trains in dpedu (this Trainer, the regression baseline,
the toy task's networks) makes its gradient updates with `AdamWithEMA.update`, and the diffusion models
all use `diffusion_loss`.

Every object keeps its own state (`state_dict()` / `load_state_dict(state)`: the Trainer, AdamWithEMA, the
ReplayBuffer, the Normalizers, the LossLog, the demonstrator); dpedu/runtime/checkpoint.py only moves those
dicts to and from files.

The baselines (Trainer("regression" | "gmm" | "ibc" | "bet"), dpedu/baselines/) make the same update on the same
batch (o, A^0) with their own loss in place of the DDPM loss: loss = model.loss(o, A^0, generator). So does flow
matching (Trainer("flow"), notebook 12), with the same denoisers and flow_loss (dpedu/diffusion/flow.py), and its
one-step distillation Trainer("reflow", teacher=flow_policy), whose targets are the teacher's own plans.
"""

from __future__ import annotations

import numbers
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dpedu.baselines import BaselinePolicy, build_baseline
from dpedu.config import ALGORITHMS, FLOW_METHODS, DPConfig
from dpedu.data import Normalizer, ReplayBuffer
from dpedu.datasets import Demonstrations, fill_buffer
from dpedu.diffusion.flow import flow_loss
from dpedu.diffusion.sampler import check_prediction_type, make_sampler
from dpedu.diffusion.schedule import NoiseSchedule
from dpedu.envs import DEMONSTRATORS, make_demonstrator
from dpedu.envs.demonstrator import CheckedDemonstrator
from dpedu.evaluate import check_env_id, evaluate_policy
from dpedu.networks import build_network, condition
from dpedu.observations import ObsLayout, make_env
from dpedu.policy import ChunkPolicy, DiffusionPolicy, FlowPolicy
from dpedu.runtime import distributed
from dpedu.runtime.device import resolve_device
from dpedu.runtime.env_state import env_state, set_env_state
from dpedu.runtime.loss_log import LossLog
from dpedu.runtime.progress import TrainingRun
from dpedu.update import AdamWithEMA, fit, fused_adam_supported  # noqa: F401 (re-exported)


def diffusion_loss(model, schedule: NoiseSchedule, obs: torch.Tensor, a0: torch.Tensor, k: torch.Tensor | None = None,
                   eps: torch.Tensor | None = None, generator: torch.Generator | None = None,
                   prediction_type: str = "epsilon") -> torch.Tensor:
    """The DDPM loss on one batch, with A^k = sqrt(alpha_bar_k) A^0 + sqrt(1 - alpha_bar_k) eps:

        "epsilon":  || eps - eps_theta(A^k, k, obs) ||^2      the network predicts the noise
        "sample":   || A^0 - A_theta^0(A^k, k, obs) ||^2      the network predicts the clean chunk

    obs (B, To, obs_dim) and a0 = A^0 (B, H, act_dim), normalised. k ~ U{1..K} (B,) and eps ~ N(0, I) like a0 are
    drawn from `generator` unless given. Returns the mean over the batch and the chunk's entries.
    """
    check_prediction_type(prediction_type)
    if k is None:
        k = torch.randint(1, schedule.n_steps + 1, (a0.shape[0],), generator=generator, device=a0.device)  # (B,)
    if eps is None:
        eps = torch.randn(a0.shape, generator=generator, device=a0.device)  # (B, H, act_dim)
    a_k = schedule.add_noise(a0, k, eps)
    target = eps if prediction_type == "epsilon" else a0
    return F.mse_loss(model(a_k, k, obs), target)


def check_timesteps(n, name: str) -> int:
    """A step count: any integer >= 1 (Python or numpy), as a Python int."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"{name} must be an int >= 1, got {n!r}")
    return int(n)

# What a reflow student takes from its teacher: the windows and the network (a flow teacher's weights are its start).
TEACHER_KEYS = ("obs_horizon", "action_horizon", "network", "hidden_dim", "n_layers", "conditioning", "unet_dim",
                "unet_levels", "unet_kernel_size", "unet_groups", "transformer_dim", "transformer_heads",
                "transformer_layers", "transformer_causal", "n_diffusion_steps")


def _check_teacher(algorithm: str, teacher, config: dict) -> ChunkPolicy | None:
    """Trainer("reflow")'s teacher as a policy (loaded if a path), its keys put into `config`; None otherwise.
    ValueError for a teacher where none belongs, or one whose plans are not a function of their noise."""
    if algorithm != "reflow":
        if teacher is not None:
            raise ValueError(f"teacher= is for Trainer('reflow') (distilling a trained policy); {algorithm!r} learns "
                             "from demonstrations")
        return None
    if teacher is None:
        raise ValueError("Trainer('reflow') distils a trained policy: give teacher=a FlowPolicy (Trainer('flow')'s) "
                         "or its file")
    if isinstance(teacher, (str, Path)):
        teacher = load_policy(teacher, device=config.get("device", "cpu"))
    elif isinstance(teacher, dict):  # a policy's state_dict (a reflow checkpoint holds its teacher's)
        teacher = ChunkPolicy.from_state_dict(teacher, device=config.get("device", "cpu"))
    deterministic = isinstance(teacher, FlowPolicy) or (
        isinstance(teacher, DiffusionPolicy) and teacher.config.sampler == "ddim" and teacher.config.ddim_eta == 0.0)
    if not deterministic:
        raise ValueError(f"a reflow teacher must map each noise to one plan (a FlowPolicy, or a DiffusionPolicy "
                         f"configured with sampler='ddim', ddim_eta=0), got {teacher!r}")
    if teacher.layout.has_frames:
        raise ValueError("reflow distils policies that observe vectors; this teacher reads camera frames")
    for key in TEACHER_KEYS:
        mine = teacher.config.to_dict()[key]
        if key in config and config[key] != mine:
            raise ValueError(f"reflow takes {key} from its teacher ({mine!r}); config says {config[key]!r}: leave it "
                             "out")
        config[key] = mine
    config.setdefault("n_inference_steps", 1)  # the point of the distillation: one step per plan
    return teacher


def _teacher_for(teacher: ChunkPolicy, env_id: str, device: torch.device) -> ChunkPolicy:
    """The teacher, checked against the student's task, as a copy on the student's device if it lives elsewhere."""
    if teacher.env_id is not None and teacher.env_id != env_id:
        raise ValueError(f"the teacher was trained on {teacher.env_id!r}, the student learns on {env_id!r}")
    if teacher.device != device:
        teacher = type(teacher).from_state_dict(teacher.state_dict(), device=device)
    return teacher


class _DefaultEnv(str):
    """The Trainer's default env: Pendulum-v1, or with dataset= the dataset's. A str (so it reads as one), told
    apart from an env="Pendulum-v1" given by hand by identity."""


DEFAULT_ENV = _DefaultEnv("Pendulum-v1")


def _check_data_source(env, demonstrator, dataset) -> str:
    """The env id a trainer learns on: env, or the dataset's; ValueError for a mix that cannot be meant."""
    if dataset is None or dataset is Trainer.CHECKPOINT_DATA:
        return str(env) if env is DEFAULT_ENV else env
    if demonstrator is not None:
        raise ValueError("give a demonstrator (online: it acts while training) or a dataset (offline), not both")
    if env is not DEFAULT_ENV and env is not None and env != dataset.env_id:
        raise ValueError(f"the dataset holds demonstrations of {dataset.env_id!r}, not of env={env!r}; leave env out "
                         "(it defaults to the dataset's)")
    return dataset.env_id


def _stack_rows(rows: list[np.ndarray], dim: int) -> torch.Tensor:
    """A list of equal-shape arrays as one tensor (dtype kept); (0, dim) float32 when empty."""
    return torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, dim)


class Trainer:
    """Train a diffusion policy (or a baseline) on demonstrations of a gymnasium environment.

    Args:
        algorithm: the method: "diffusion" (the DDPM loss below); "flow" (flow matching, dpedu/diffusion/flow.py);
            "reflow" (a one-step flow distilled from `teacher`); or a baseline Chi et al. compare with, trained on the
            same batches by the same update with its own loss (dpedu/baselines/): "regression", "gmm", "ibc", "bet".
        env: a gymnasium id with a built-in demonstrator (dpedu.envs.DEMONSTRATORS), or any registered id with a
            Box action space given `demonstrator` or `dataset` (default: Pendulum-v1; with `dataset`, its env).
        seed: seeds everything; overrides config["seed"] (giving both, different, is an error).
        config: dict of DPConfig overrides (DPConfig.describe() lists them).
        progress: show a tqdm progress bar during train().
        demonstrator: your own demonstrator object, reset() and act(obs) (dpedu.envs.demonstrator.CheckedDemonstrator
            says what else it may offer; docs/your-own-task.md); None: the env's built-in one.
        dataset: learn offline from a dataset on disk (a path or dpedu.datasets.Demonstrations): then
            train(n_updates=N), and no demonstrator acts.
        teacher: "reflow" only: the trained policy whose plans are the targets (or its file, or its state_dict): a
            FlowPolicy, or a DiffusionPolicy sampling deterministically (DDIM, eta 0). The student takes its windows,
            network and normalisers, starts from a flow teacher's weights (as Liu et al. do), and acts in 1 Euler step
            unless config sets n_inference_steps.

    Under torchrun (`torchrun --nproc_per_node=N -m dpedu train ...`) every rank collects its own data and
    DistributedDataParallel averages the gradients: one update sees N * batch_size samples (docs/scaling-out.md;
    the helpers in dpedu/runtime/distributed.py). In one process nothing of that happens.
    """

    # Trainer.load builds an offline trainer with dataset=CHECKPOINT_DATA: its data come from the checkpoint's buffer.
    CHECKPOINT_DATA = object()

    def __init__(self, algorithm: str = "diffusion", env: str = DEFAULT_ENV, seed: int | None = None,
                 config: dict | None = None, progress: bool = True, demonstrator=None, dataset=None, teacher=None):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}; available: {ALGORITHMS}")
        self.algorithm = algorithm
        if config is not None and not isinstance(config, dict):
            raise TypeError(f"config must be a dict of hyperparameters, got {type(config).__name__}")
        config = dict(config or {})
        self.teacher = _check_teacher(algorithm, teacher, config)
        if seed is not None:
            if "seed" in config and config["seed"] != seed:
                raise ValueError(f"seed={seed!r} and config['seed']={config['seed']!r} disagree; give one")
            config["seed"] = seed
        self.config = cfg = DPConfig.from_dict(config)
        cfg.check_algorithm(algorithm)  # another method's keys keep their defaults
        if dataset is not None and dataset is not Trainer.CHECKPOINT_DATA:
            dataset = Demonstrations.open(dataset)
        env = _check_data_source(env, demonstrator, dataset)
        self.env_id, self.progress = env, progress
        self.action_space = check_env_id(env)
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        self.device = distributed.rank_device(resolve_device(cfg.device))
        data_seed = distributed.data_seed(cfg.seed)  # cfg.seed in a single process
        if self.teacher is not None:
            self.teacher = _teacher_for(self.teacher, env, self.device)

        # The data: a demonstrator acting in the environment, whole episodes into a FIFO buffer; or (offline) a
        # dataset's episodes, put in the buffer once below.
        self.dataset = None if dataset is None or dataset is Trainer.CHECKPOINT_DATA else dataset.summary()
        if dataset is not None:
            self.demonstrator = None
        elif demonstrator is not None:
            self.demonstrator = CheckedDemonstrator(demonstrator, self.action_space)
        else:
            try:
                self.demonstrator = make_demonstrator(env, data_seed, cfg.explore_noise)
            except ValueError as e:
                raise ValueError(f"{e}; for another env pass demonstrator=your_object or dataset=path "
                                 "(docs/your-own-task.md)") from None
        self.env = make_env(env, cfg.obs_type)
        try:
            # What the policy observes: a vector, or camera frames (and the agent's position) for the vision encoder.
            self.layout = ObsLayout.of_space(self.env.observation_space, cfg.obs_type, env)
            self._check_pixel_training(dataset)
        except (TypeError, ValueError):
            self.env.close()
            raise
        self._obs = None if self.offline else self.env.reset(seed=data_seed)[0]
        self.obs_dim, self.act_dim = self.layout.obs_dim, self.action_space.shape[0]
        dataset_dim = (dataset.frame_obs_dim(cfg.obs_type) if self.layout.has_frames else dataset.obs_dim
                       ) if self.dataset is not None else None
        if self.teacher is not None and (self.teacher.obs_dim, self.teacher.act_dim) != (self.obs_dim, self.act_dim):
            self.env.close()
            raise ValueError(f"the teacher observes {self.teacher.obs_dim} and acts in {self.teacher.act_dim} "
                             f"dimensions, {env}'s {self.obs_dim} and {self.act_dim}")
        if self.dataset is not None and (dataset_dim, dataset.act_dim) != (self.obs_dim, self.act_dim):
            self.env.close()
            raise ValueError(f"the dataset's observations and actions have {dataset_dim} and {dataset.act_dim} "
                             f"entries, {env}'s {self.obs_dim} and {self.act_dim}")
        self._episode: tuple[list, list] = ([], [])  # (observations, actions) of the episode in progress
        # The noise schedule and the policy's sampler check their own settings (a linear schedule that exhausts
        # float32, DDIM's eta) here, before the buffer is allocated and long before the first plan.
        self.schedule = NoiseSchedule(cfg.n_diffusion_steps, cfg.noise_schedule, cfg.beta_start, cfg.beta_end,
                                      self.device)
        make_sampler(cfg.sampler, self.schedule, cfg.n_inference_steps, cfg.ddim_eta, cfg.clip_sample,
                     cfg.prediction_type)
        # The model: the denoiser (its constructor checks its shape rules), its optimiser and EMA.
        with torch.random.fork_rng(devices=[]):  # seeded weights without touching the global RNG
            torch.manual_seed(cfg.seed)
            self.model = self._build_model().to(self.device)
        if isinstance(self.teacher, FlowPolicy):  # reflow starts from the flow it straightens (Liu et al.)
            self.model.load_state_dict(self.teacher.model.state_dict())
        self.updater = AdamWithEMA(self.model, cfg.learning_rate, cfg.ema_decay, cfg.max_grad_norm)
        # DistributedDataParallel's wrapper under torchrun (it averages the gradients); the model itself in one process.
        self.ddp_model = distributed.data_parallel(self.model, self.device)
        # Offline, the buffer holds the dataset and nothing more: sized to it (a buffer of frames sized to buffer_size
        # would take gigabytes); a trainer loaded from a checkpoint builds its buffer from the saved one
        # (load_state_dict).
        capacity = cfg.buffer_size if self.dataset is None else min(cfg.buffer_size, dataset.n_steps)
        self.buffer = None if dataset is Trainer.CHECKPOINT_DATA else self._make_buffer(capacity)
        self.env_steps = self.episodes = 0
        if self.dataset is not None:
            fill_buffer(self.buffer, dataset, cfg.obs_type if self.layout.has_frames else None)
            self.episodes = dataset.n_episodes
        # One generator for batches and noise.
        self.generator = torch.Generator(self.device).manual_seed(data_seed)
        self.obs_normalizer: Normalizer | None = None
        self.act_normalizer: Normalizer | None = None

        self.loss_log = LossLog(self.device, cfg.learning_rate, max_grad_norm=cfg.max_grad_norm)
        self.timings = {"collect_s": 0.0, "update_s": 0.0}
        self._policy: DiffusionPolicy | None = None

    def _build_model(self) -> torch.nn.Module:
        """The method's network: the denoiser config.network names, or the baseline's (dpedu/baselines/)."""
        if self.algorithm in ("diffusion", *FLOW_METHODS):
            if self.algorithm == "reflow" and self.world_size > 1:
                raise ValueError("Trainer('reflow') under torchrun is not supported: distil in one process")
            return build_network(self.config, self.obs_dim, self.act_dim, self.layout.frame_shape)
        if self.world_size > 1:
            raise ValueError(f"Trainer({self.algorithm!r}) under torchrun is not supported: the baselines train in "
                             "one process")
        return build_baseline(self.algorithm, self.config, self.obs_dim, self.act_dim)

    def _make_buffer(self, capacity: int) -> ReplayBuffer:
        return ReplayBuffer(capacity, self.obs_dim, self.act_dim, self.device, self.layout.frame_shape)

    def _check_pixel_training(self, dataset) -> None:
        """Camera frames are learned offline, from a dataset that holds them, in one process."""
        if not self.layout.has_frames:
            return
        if dataset is None:
            raise ValueError(f"obs_type={self.config.obs_type!r}: pixel policies learn from a dataset of frames "
                             "(the paper's setting): record demonstrations, add their frames with `dpedu dataset "
                             "render`, and give Trainer(..., dataset=path)")
        if dataset is not Trainer.CHECKPOINT_DATA and not dataset.has_frames:
            raise ValueError(f"obs_type={self.config.obs_type!r} needs a dataset with frames (data/img); "
                             f"{dataset.path.name} holds none: add them with `dpedu dataset render {dataset.path}`")
        if self.world_size > 1:
            raise ValueError("pixel observations under torchrun are not supported: train them in one process")

    @property
    def offline(self) -> bool:
        """Whether this trainer learns from a fixed dataset (no demonstrator, no collection)."""
        return self.demonstrator is None

    # ------------------------------------------------------------------ the algorithm

    def train(self, total_timesteps: int | None = None, n_updates: int | None = None) -> dict:
        """Collect total_timesteps demonstration steps, updating the network as the module docstring says.
        Offline (a trainer made with dataset=): train(n_updates=N) makes N gradient updates on the dataset.

        Returns a metrics dict: loss (mean over the last 100 updates), loss_history ((updates, mean loss of
        those 100) every 100 updates), n_updates, env_steps, episodes, wall_time_s, collect_s, update_s,
        updates_per_s. Ctrl-C stops at the end of the current step; train() again goes on from there.

        total_timesteps: any integer >= 1 (numpy integers too; not bool or float). A call that could make no
        gradient update at all on a trainer that has made none (it ends before warmup_steps) is refused
        before collecting: collect() gathers demonstrations without updating.
        """
        if self.offline:
            return self._train_offline(total_timesteps, n_updates)
        if n_updates is not None:
            raise ValueError(f"train(n_updates={n_updates!r}) is for a trainer that learns from a dataset; this one "
                             "collects from a demonstrator: give train(total_timesteps=N), environment steps")
        if total_timesteps is None:
            raise TypeError("train() needs total_timesteps, the environment steps to collect")
        total_timesteps = check_timesteps(total_timesteps, "total_timesteps")
        cfg = self.config
        if total_timesteps < self.steps_to_first_update():
            raise ValueError(
                f"train({total_timesteps}) would make no gradient update: updates start once warmup_steps="
                f"{cfg.warmup_steps} environment steps are collected (train_freq={cfg.train_freq}), and this "
                f"trainer has {self.env_steps}; allowed: total_timesteps >= "
                f"{self.steps_to_first_update()}, a smaller warmup_steps, or trainer.collect(n) to "
                "gather demonstrations only")
        wall_time_s = self._run(total_timesteps, updates=True)  # returns only when all steps ran (Ctrl-C raises)
        if self.n_updates == 0:
            warnings.warn(f"train({total_timesteps}) made no gradient update: no episode had finished by step "
                          f"{self.env_steps} (updates need one whole episode in the buffer); train() more",
                          RuntimeWarning, stacklevel=2)
        return self.metrics(wall_time_s=wall_time_s)

    def _train_offline(self, total_timesteps, n_updates) -> dict:
        """n_updates gradient updates on the dataset in the buffer; Ctrl-C stops after the current one."""
        if total_timesteps is not None:
            raise ValueError(f"train({total_timesteps!r}): this trainer learns from a dataset and collects no "
                             "environment steps; give train(n_updates=N), the gradient updates to make")
        if n_updates is None:
            raise TypeError("train() needs n_updates, the gradient updates to make on the dataset")
        n_updates = check_timesteps(n_updates, "n_updates")
        with TrainingRun(n_updates, self.timings, self.progress, self._progress_postfix, unit="update",
                         finish="train(n_updates={})") as run:
            for _ in run.steps():
                with run.timed("update_s"):
                    self.update()
        return self.metrics(wall_time_s=run.wall_time_s)

    def collect(self, n_steps: int) -> dict:
        """Collect n_steps demonstration steps into the buffer, with no gradient update (even past warmup_steps).
        Returns the metrics dict as train() does."""
        if self.offline:
            raise ValueError("collect(): this trainer learns from a dataset and has no demonstrator to collect with")
        return self.metrics(wall_time_s=self._run(check_timesteps(n_steps, "n_steps"), updates=False))

    def steps_to_first_update(self) -> int:
        """Environment steps still to collect before the first gradient update can run (at warmup_steps or the next
        multiple of train_freq, as ready_to_update says); 0 once an update has run, and offline."""
        if self.n_updates or self.offline:
            return 0
        cfg = self.config
        first = max(cfg.warmup_steps, self.env_steps + 1)
        return -(-first // cfg.train_freq) * cfg.train_freq - self.env_steps

    def _run(self, n_steps: int, updates: bool) -> float:
        """The loop of the module docstring over n_steps steps (without its updates when updates=False);
        returns the wall time."""
        with TrainingRun(n_steps, self.timings, self.progress, self._progress_postfix) as run:
            for _ in run.steps():
                with run.timed("collect_s"):
                    self.collect_step()
                if updates and self.ready_to_update():
                    with run.timed("update_s"):
                        for _ in range(self.config.gradient_steps):
                            self.update()
        return run.wall_time_s

    def collect_step(self) -> None:
        """One demonstrator step; a finished episode goes into the buffer and the environment resets."""
        obs = self._obs
        action = self.demonstrator.act(obs)  # the label
        next_obs, _, terminated, truncated, _ = self.env.step(self.demonstrator.explore(action))
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

    def ready_to_update(self) -> bool:
        cfg = self.config
        if self.env_steps < cfg.warmup_steps or self.env_steps % cfg.train_freq:
            return False
        # A finished episode in the buffer; before the first update every rank must have one (torchrun).
        return self.n_updates > 0 or distributed.every_rank(len(self.buffer) > 0)

    def fit_normalizers(self) -> None:
        """Observations: min-max over the buffer (frames are not normalised here: the vision encoder maps 0..255 to
        [-1, 1]). Actions: the action space's bounds when finite."""
        if self.teacher is not None:  # the student sees the world in its teacher's units
            self.obs_normalizer = self.teacher.obs_normalizer.to(self.device)
            self.act_normalizer = self.teacher.act_normalizer.to(self.device)
            return
        obs = self.buffer.all_obs()
        obs_normalizer = Normalizer.fit(obs) if obs.shape[1] else Normalizer(torch.zeros(0), torch.zeros(0))
        self.obs_normalizer = distributed.same_on_every_rank(obs_normalizer).to(self.device)
        low, high = self.action_space.low, self.action_space.high
        bounded = np.isfinite(low).all() and np.isfinite(high).all()
        act_normalizer = Normalizer(low, high) if bounded else Normalizer.fit(self.buffer.all_act())
        self.act_normalizer = distributed.same_on_every_rank(act_normalizer).to(self.device)

    def update(self) -> None:
        """One gradient update (Algorithm 1 in the module docstring)."""
        cfg = self.config
        if self.obs_normalizer is None:
            self.fit_normalizers()
            self._fit_bins()
        obs_idx, act_idx = self.buffer.sample_indices(cfg.batch_size, cfg.obs_horizon, cfg.action_horizon,
                                                      self.generator)
        obs = self.obs_normalizer.normalize(self.buffer.obs[obs_idx])  # (B, To, obs_dim)
        a0 = self.act_normalizer.normalize(self.buffer.act[act_idx])  # (B, H, act_dim)
        frames = None if self.buffer.frames is None else self.buffer.frames[obs_idx]  # (B, To, H, W, C) uint8
        # With frames: the vision encoder's features (a random crop each) beside obs, trained by the same loss.
        obs = condition(self.model, obs, frames, self.generator)
        if self.algorithm == "diffusion":
            loss = diffusion_loss(self.ddp_model, self.schedule, obs, a0, generator=self.generator,
                                  prediction_type=cfg.prediction_type)
        elif self.algorithm in FLOW_METHODS:  # reflow: the targets are the teacher's plans from the same noise
            loss = flow_loss(self.ddp_model, obs, a0, generator=self.generator,
                             teacher=None if self.teacher is None else self._teacher_plan)
        else:  # a baseline's own loss (dpedu/baselines/): the same batch, the same update
            loss = self.model.loss(obs, a0, self.generator)
        self.updater.update(loss)
        self.loss_log.record(loss, self.n_updates)
        self._policy = None  # the weights changed

    def _teacher_plan(self, eps: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """Reflow's target: the normalised chunk the teacher's sampler carries the noise eps to, for windows obs."""
        return self.teacher._sample(obs, tuple(eps.shape), x_K=eps).clone()  # clone: out of inference mode

    def _fit_bins(self) -> None:
        """BET's bins: k-means centres of the buffer's action chunks (up to 20 000 windows), normalised, fitted once
        before the first update (the EMA copy gets them too: they are part of the network, not trained)."""
        if not hasattr(self.model, "fit_bins"):
            return
        n = min(len(self.buffer), 20_000)
        _, act_idx = self.buffer.sample_indices(n, self.config.obs_horizon, self.config.action_horizon, self.generator)
        self.model.fit_bins(self.act_normalizer.normalize(self.buffer.act[act_idx]), self.generator)
        self.ema_model.load_state_dict(self.model.state_dict())  # no update yet: the EMA equals the weights

    # ------------------------------------------------------------------ the result

    @property
    def n_updates(self) -> int:
        return self.updater.n_updates

    @property
    def ema_model(self) -> torch.nn.Module:
        return self.updater.ema_model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.updater.optimizer

    @property
    def loss_history(self) -> list[tuple[int, float]]:
        return self.loss_log.history

    @property
    def policy(self) -> ChunkPolicy:
        """The policy acting with the EMA weights (rebuilt after further training): a DiffusionPolicy, or a
        BaselinePolicy for the baselines."""
        if self.obs_normalizer is None:
            raise RuntimeError("no gradient update yet: call train(n_updates=N) first" if self.offline else
                               "no gradient update yet: call train() with total_timesteps > warmup_steps first")
        if self._policy is None:
            model = self._build_model()
            model.load_state_dict(self.ema_model.state_dict())
            args = (self.config, model, self.obs_normalizer, self.act_normalizer)
            if self.algorithm == "diffusion":
                self._policy = DiffusionPolicy(*args, env_id=self.env_id, device=self.device)
            elif self.algorithm in FLOW_METHODS:
                self._policy = FlowPolicy(*args, algorithm=self.algorithm, env_id=self.env_id, device=self.device)
            else:
                self._policy = BaselinePolicy(self.algorithm, *args, env_id=self.env_id, device=self.device)
        return self._policy

    def metrics(self, **extra) -> dict:
        """The metrics dict train() returns, for the training done so far."""
        n = self.n_updates
        loss = self.loss_log.mean_of_newest(min(n, self.loss_log.interval), n) if n else float("nan")
        update_s = self.timings["update_s"]
        return {"loss": loss, "loss_history": list(self.loss_history), "n_updates": n,
                "env_steps": self.env_steps, "episodes": self.episodes,
                **{k: round(v, 3) for k, v in self.timings.items()},
                "updates_per_s": round(n / update_s, 1) if update_s else 0.0, **extra}

    def evaluate(self, n_episodes: int = 20, seed: int = 0, n_envs: int | None = None) -> dict:
        """Mean/std return of the policy over n_episodes fresh episodes (see evaluate.evaluate_policy); with the
        random and demonstrator baselines for a task with a built-in demonstrator (they need one)."""
        return evaluate_policy(self.policy, self.env_id, n_episodes, seed, n_envs,
                               baselines=self.env_id in DEMONSTRATORS)

    def _progress_postfix(self) -> dict:
        if not self.loss_history:
            return {}
        return {"loss": f"{self.loss_history[-1][1]:.4f}", "updates": self.n_updates}

    # ------------------------------------------------------------------ state and checkpoints

    def state_dict(self) -> dict:
        """Everything train() depends on, as tensors and plain Python (torch.load weights_only-safe): the config,
        the weights, the updater (optimiser, EMA, update count), the normalisers, counters, the loss log, timings,
        the generator, the buffer (its filled part), the episode in progress, and the environment's and the
        demonstrator's state (None for a demonstrator without state_dict). Offline: the dataset's summary, and
        the buffer holds its data (no file is needed to resume); no environment, episode or demonstrator state.
        Each part comes from the object that owns it."""
        online = not self.offline
        return {
            "algorithm": self.algorithm,
            "env_id": self.env_id,
            "config": self.config.to_dict(),
            "model": {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()},
            "updater": self.updater.state_dict(),
            "obs_normalizer": None if self.obs_normalizer is None else self.obs_normalizer.state_dict(),
            "act_normalizer": None if self.act_normalizer is None else self.act_normalizer.state_dict(),
            "counters": {"env_steps": self.env_steps, "episodes": self.episodes},
            "loss_log": self.loss_log.state_dict(),
            "timings": dict(self.timings),
            "generator": self.generator.get_state(),
            "buffer": self.buffer.state_dict(),
            "episode": {"obs": _stack_rows(self._episode[0], self.obs_dim),
                        "act": _stack_rows(self._episode[1], self.act_dim)} if online else None,
            "obs": torch.from_numpy(np.array(self._obs)) if online else None,
            "env": env_state(self.env) if online else None,
            "demonstrator": self.demonstrator.state_dict() if online else None,
            "dataset": self.dataset,
            "teacher": None if self.teacher is None else self.teacher.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Put this trainer into the state state_dict() recorded; train() then goes on bit for bit (same machine).

        The state must come from a trainer of the same environment and config (the device may differ)."""
        if (state.get("algorithm") or "diffusion") != self.algorithm:  # absent before the baselines: diffusion
            raise ValueError(f"the state is of a {state.get('algorithm')!r} trainer, this one is {self.algorithm!r}")
        if state["env_id"] != self.env_id:
            raise ValueError(f"the state is of a trainer on {state['env_id']!r}, this one is on {self.env_id!r}")
        if (state.get("dataset") is not None) != self.offline:
            kinds = ("learns from a dataset", "collects from a demonstrator")
            raise ValueError(f"the state is of a trainer that {kinds[state.get('dataset') is None]}, this one "
                             f"{kinds[not self.offline]}")
        # (A state saved before a key existed holds that key's default.)
        mine, theirs = self.config.to_dict(), {**DPConfig().to_dict(), **dict(state["config"])}
        theirs["device"] = mine["device"]  # a run may go on elsewhere
        differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        if differ:
            raise ValueError(f"the state's config differs from this trainer's in {differ}: build the trainer with "
                             "the state's config (Trainer.load does)")
        counters = state["counters"]
        for key in ("env_steps", "episodes"):
            if isinstance(counters[key], bool) or not isinstance(counters[key], int) or counters[key] < 0:
                raise ValueError(f"counters[{key!r}] must be an int >= 0, found {counters[key]!r}")
        # The same order as the objects were built in; each object checks its own part.
        self.model.load_state_dict(state["model"])
        self.updater.load_state_dict(state["updater"])
        norm = lambda s: None if s is None else Normalizer.from_state_dict(s).to(self.device)  # noqa: E731
        self.obs_normalizer, self.act_normalizer = norm(state["obs_normalizer"]), norm(state["act_normalizer"])
        self.env_steps, self.episodes = counters["env_steps"], counters["episodes"]
        self.loss_log.load_state_dict(state["loss_log"])
        self.timings = {key: float(state["timings"][key]) for key in self.timings}
        self.generator.set_state(state["generator"])
        if self.buffer is None:  # built by Trainer.load: the saved buffer's size
            capacity = state["buffer"]["capacity"]
            if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
                raise ValueError(f"buffer capacity must be an int >= 1, found {capacity!r}")
            self.buffer = self._make_buffer(capacity)
        self.buffer.load_state_dict(state["buffer"])
        self._policy = None
        if self.offline:
            self.dataset = dict(state["dataset"])
            return
        self._episode = (list(state["episode"]["obs"].numpy()), list(state["episode"]["act"].numpy()))
        self._obs = state["obs"].numpy().copy()
        set_env_state(self.env, state["env"])
        self.demonstrator.load_state_dict(state["demonstrator"])

    # ------------------------------------------------------------------ files (dpedu/runtime/checkpoint.py)

    def save(self, path) -> Path:
        """Write a checkpoint train() can resume from bit for bit (Trainer.load). The policy alone: policy.save."""
        from dpedu.runtime.checkpoint import save_trainer

        return save_trainer(self, path)

    @classmethod
    def load(cls, path, progress: bool = True, device=None, demonstrator=None) -> Trainer:
        """A trainer in the state save() recorded; its train() continues bit for bit (same machine, CPU).

        device: where to continue (None: the saved config's device, "auto" by default).
        demonstrator: the object a trainer made with demonstrator= was given (a checkpoint holds its state, not
            its code); None for the built-in one, and for an offline trainer (the checkpoint holds its data).
        """
        from dpedu.runtime.checkpoint import load_trainer

        return load_trainer(cls, path, progress, device, demonstrator)


def load_policy(path, device=None) -> ChunkPolicy:
    """A policy saved by any method (policy.save), as the class that acts for it: a DiffusionPolicy, or a
    BaselinePolicy. Errors name the file and what is wrong with it."""
    return ChunkPolicy.load(path, device)
