"""Roll policies out in gymnasium and report their returns, success rates and the task's own episode measures.

A policy here is anything with `reset()` and `act(obs_batch) -> action_batch` (the DiffusionPolicy, the
demonstrator, RandomPolicy). N episodes run as N environments stepped together
(gymnasium.vector.SyncVectorEnv), so a DiffusionPolicy plans for all of them in one batch. Episode i
always starts from `env.reset(seed=seed + i)`, whatever the batch size: two policies evaluated with the
same seed face the same initial states, and their returns can be compared episode by episode. A task whose
environment keeps its physical state in `env.unwrapped.state` (gymnasium's classic-control convention, which
Pendulum-v1 and dpedu/Detour-v0 follow) can also start every episode from a chosen state (`initial_states`).

The intervals (Wilson, Student-t) and standard errors are in dpedu.stats.
"""

from __future__ import annotations

import difflib
import functools
import time

import gymnasium as gym
import numpy as np

from dpedu.envs import EPISODE_MEASURES, make_demonstrator
from dpedu.envs.latency import ObservationLatency
from dpedu.observations import ObsLayout, make_env
from dpedu.stats import standard_error, wilson_interval


def check_env_id(env_id: str) -> gym.spaces.Box:
    """Validate that env_id is a registered gymnasium env with a continuous (Box) action space.

    Returns its action space. Raises ValueError naming the id and what is allowed.
    """
    if not isinstance(env_id, str):
        raise TypeError(f"env must be a gymnasium id string such as 'Pendulum-v1', got {type(env_id).__name__}")
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown environment id {env_id!r}{hint}")
    env = gym.make(env_id)
    try:
        space = env.action_space
    finally:
        env.close()
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(f"{env_id} has a {type(space).__name__} action space; diffusion policies here need a "
                         "continuous Box action space")
    return space


def observed_as(policy) -> tuple[str | None, tuple | None]:
    """(obs_type, frame_shape) of what a policy observes: (None, None) for vectors (and for any policy that does
    not say); a pixel DiffusionPolicy's obs_type and frame shape (H, W, C). Its env is made with that obs_type."""
    layout = getattr(policy, "layout", None)
    if layout is None or not layout.has_frames:
        return None, None
    return layout.obs_type, layout.frame_shape


def check_policy_fits(policy, env_id: str) -> None:
    """A policy that knows its obs_dim / act_dim (DiffusionPolicy) must match the env's spaces."""
    obs_dim, act_dim = getattr(policy, "obs_dim", None), getattr(policy, "act_dim", None)
    if obs_dim is None and act_dim is None:
        return
    obs_type, frame_shape = observed_as(policy)
    if obs_type is not None:
        env = make_env(env_id, obs_type)
        try:
            layout = ObsLayout.of_space(env.observation_space, obs_type, env_id)
        finally:
            env.close()
        if (layout.obs_dim, layout.frame_shape) != (obs_dim, frame_shape):
            raise ValueError(f"{env_id} with obs_type={obs_type!r} observes frames {layout.frame_shape} and "
                             f"{layout.obs_dim} numbers beside them, but the policy takes frames {frame_shape} and "
                             f"{obs_dim}")
        return
    env = gym.make(env_id)
    try:
        obs_shape, act_shape = env.observation_space.shape, env.action_space.shape
    finally:
        env.close()
    if (obs_dim is not None and obs_shape != (obs_dim,)) or (act_dim is not None and act_shape != (act_dim,)):
        trained = getattr(policy, "env_id", None)
        raise ValueError(f"{env_id} has observations of shape {obs_shape} and actions of shape {act_shape}, but the "
                         f"policy{f' (trained on {trained})' if trained else ''} takes observations of shape "
                         f"({obs_dim},) and gives actions of shape ({act_dim},)")


class RandomPolicy:
    """Uniform random actions from the action space: the floor of the normalised score."""

    def __init__(self, action_space: gym.spaces.Box, seed: int = 0):
        self.low, self.high = action_space.low, action_space.high
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, obs):
        obs = np.asarray(obs)
        shape = self.low.shape if obs.ndim == 1 else (obs.shape[0],) + self.low.shape
        return self.rng.uniform(self.low, self.high, size=shape).astype(np.float32)


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def _start_from(envs: gym.vector.SyncVectorEnv, states: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Put each (just reset) env into states[i] (env.unwrapped.state) and return the observations of those states."""
    obs = obs.copy()
    for i, (env, state) in enumerate(zip(envs.envs, states)):
        core = env.unwrapped
        if not isinstance(getattr(core, "state", None), np.ndarray) or not hasattr(core, "_get_obs"):
            raise ValueError(f"initial_states needs an environment that keeps its state in env.unwrapped.state and "
                             f"observes it with unwrapped._get_obs() (gymnasium's classic control); "
                             f"{env.spec.id if env.spec else core} does not")
        if state.shape != core.state.shape:
            raise ValueError(f"initial_states must have shape (n_episodes, {core.state.size}) for {env.spec.id}, "
                             f"got rows of shape {state.shape}")
        core.state = state.copy()
        obs[i] = core._get_obs()
        if isinstance(env, ObservationLatency):  # the policy's first view is of the chosen state, as without latency
            env.restart_from(obs[i])
    return obs


def rollouts(policy, env_id: str = "Pendulum-v1", n_episodes: int = 20, seed: int = 0,
             n_envs: int | None = None, initial_states=None, progress: bool = False, latency: int = 0) -> dict:
    """Run n_episodes of `policy`, n_envs environments at a time (default: all), and record each episode.

    initial_states: None, or (n_episodes, state_dim): episode i starts from its reset, then from
        initial_states[i] put into env.unwrapped.state (the reset's seed still seeds the rest of the episode).
    progress: a tqdm bar over finished episodes.
    latency: control steps by which the observations the policy gets lag behind the world
        (dpedu.envs.latency.ObservationLatency); "observations" then holds what the policy saw.

    Returns a dict of per-episode results: "returns" (n_episodes,), "successes" (n_episodes,) bool (True if
    the env's info["is_success"] was True at the episode's end; None when the env never reports it),
    "lengths" (n_episodes,) steps, and lists with one array per episode: "observations" (length + 1, obs_dim),
    the observations from its reset to its last step (a pixel policy's: the vectors beside its frames, see
    _vector); "actions" (length, act_dim), the actions the policy executed; "rewards" (length,); "states"
    (length + 1, state_dim), env.unwrapped.state before each step and after the last (None when the env keeps no
    such array).
    """
    _check_int("n_episodes", n_episodes, 1)
    _check_int("seed", seed, 0)
    _check_int("latency", latency, 0)
    n_envs = n_episodes if n_envs is None else n_envs
    if isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
        raise ValueError(f"n_envs must be an int >= 1, got {n_envs!r}")
    if initial_states is not None:
        initial_states = np.asarray(initial_states, dtype=np.float64)
        if initial_states.ndim != 2 or len(initial_states) != n_episodes:
            raise ValueError(f"initial_states must have shape (n_episodes={n_episodes}, state_dim), "
                             f"got {initial_states.shape}")
    returns, lengths = np.zeros(n_episodes), np.zeros(n_episodes, dtype=int)
    successes, reports_success = np.zeros(n_episodes, dtype=bool), False
    observations, actions, rewards, states = [], [], [], []
    bar = None
    if progress:
        from tqdm.auto import tqdm  # here: tqdm.auto can pull in ipywidgets, slow to import and rarely needed

        bar = tqdm(total=n_episodes, desc="evaluate", unit="episode")
    try:
        for start in range(0, n_episodes, n_envs):
            k = min(n_envs, n_episodes - start)
            chunk = _rollout_chunk(policy, env_id, seed + start, k,
                                   None if initial_states is None else initial_states[start: start + k], bar, latency)
            returns[start: start + k], lengths[start: start + k] = chunk["returns"], chunk["lengths"]
            if chunk["successes"] is not None:
                reports_success = True
                successes[start: start + k] = chunk["successes"]
            for name, out in (("observations", observations), ("actions", actions), ("rewards", rewards),
                              ("states", states)):
                out += chunk[name]
    finally:
        if bar is not None:
            bar.close()
    return {"returns": returns, "successes": successes if reports_success else None, "lengths": lengths,
            "observations": observations, "actions": actions, "rewards": rewards,
            "states": states if all(s is not None for s in states) else None}


def _rollout_chunk(policy, env_id: str, seed: int, k: int, initial_states, bar, latency: int = 0) -> dict:
    """k episodes stepped together; env i reset with seed + i (rollouts' docstring)."""
    returns, lengths = np.zeros(k), np.zeros(k, dtype=int)
    successes, reports_success = np.zeros(k, dtype=bool), False
    obs_type = observed_as(policy)[0]
    make = (lambda: make_env(env_id, obs_type)) if latency == 0 else (
        lambda: ObservationLatency(make_env(env_id, obs_type), latency))
    envs = gym.vector.SyncVectorEnv([make] * k)
    try:
        obs, _ = envs.reset(seed=seed)  # env i gets seed + i
        if initial_states is not None:
            obs = _start_from(envs, initial_states, obs)
        has_state = all(isinstance(getattr(env.unwrapped, "state", None), np.ndarray) for env in envs.envs)

        def state_now():
            return np.stack([env.unwrapped.state for env in envs.envs]) if has_state else None

        policy.reset()
        done = np.zeros(k, dtype=bool)
        visited, executed, received, physical = [_vector(obs, k)], [], [], [state_now()]
        while not done.all():
            action = np.asarray(policy.act(obs))
            executed.append(action)
            obs, reward, terminated, truncated, info = envs.step(action)
            # An env that finished keeps being stepped (and auto-reset); its later steps don't count.
            returns += np.where(done, 0.0, reward)
            lengths += ~done
            received.append(reward)
            if "is_success" in info:
                reports_success = True
                ended = (terminated | truncated) & ~done & info.get("_is_success", np.ones(k, dtype=bool))
                successes |= ended & np.asarray(info["is_success"], dtype=bool)
            finished = (terminated | truncated) & ~done
            done |= terminated | truncated
            visited.append(_vector(obs, k))
            physical.append(state_now())
            if bar is not None and finished.any():
                bar.update(int(finished.sum()))
    finally:
        envs.close()
    visited = np.stack(visited, axis=1)  # (k, steps + 1, obs_dim)
    executed = np.stack(executed, axis=1)  # (k, steps, act_dim)
    received = np.stack(received, axis=1)  # (k, steps)
    physical = np.stack(physical, axis=1) if has_state else None  # (k, steps + 1, state_dim)
    return {"returns": returns, "lengths": lengths, "successes": successes if reports_success else None,
            "observations": [visited[i, : lengths[i] + 1] for i in range(k)],
            "actions": [executed[i, : lengths[i]] for i in range(k)],
            "rewards": [received[i, : lengths[i]] for i in range(k)],
            "states": [None if physical is None else physical[i, : lengths[i] + 1] for i in range(k)]}


def _vector(obs, k: int) -> np.ndarray:
    """What rollouts keep of a batch of k observations: the vector; for pixel observations the agent's position
    ("pixels_agent_pos") or nothing, (k, 0) ("pixels"): frames would take hundreds of MB over an evaluation."""
    if isinstance(obs, dict):
        return obs["agent_pos"]
    obs = np.asarray(obs)
    return obs if obs.ndim == 2 else np.zeros((k, 0), dtype=np.float32)


def step_changes(actions: np.ndarray) -> np.ndarray:
    """|a[k+1] - a[k]| of one episode's actions (length, act_dim), averaged over action dimensions: (length - 1,)."""
    return np.abs(np.diff(actions, axis=0)).mean(axis=-1)


def action_change(actions: list[np.ndarray]) -> np.ndarray:
    """Smoothness of each episode: the mean over its steps k of |a[k+1] - a[k]|, averaged over action dimensions.

    A policy whose executed actions jump from step to step scores high; one that moves them gradually, low.
    """
    return np.array([step_changes(a).mean() if len(a) > 1 else 0.0 for a in actions])


def rollout_returns(policy, env_id: str = "Pendulum-v1", n_episodes: int = 20, seed: int = 0,
                    n_envs: int | None = None) -> np.ndarray:
    """Per-episode returns (n_episodes,) of `policy`, n_envs environments at a time (default: all)."""
    return rollouts(policy, env_id, n_episodes, seed, n_envs)["returns"]


@functools.lru_cache(maxsize=32)
def baseline_returns(env_id: str, n_episodes: int, seed: int) -> tuple[float, float]:
    """Mean returns (random, demonstrator) on the same initial states; cached."""
    space = check_env_id(env_id)
    random_mean = rollout_returns(RandomPolicy(space, seed), env_id, n_episodes, seed).mean()
    demonstrator = make_demonstrator(env_id, seed)
    # A demonstrator that plans one episode at a time (Push-T's planner) is stepped in single-env batches.
    n_envs = 1 if getattr(demonstrator, "ONE_EPISODE_AT_A_TIME", False) else None
    demo_mean = rollout_returns(demonstrator, env_id, n_episodes, seed, n_envs).mean()
    return float(random_mean), float(demo_mean)


def evaluate_policy(policy, env_id: str = "Pendulum-v1", n_episodes: int = 20, seed: int = 0,
                    n_envs: int | None = None, baselines: bool = True, progress: bool = False,
                    latency: int = 0) -> dict:
    """Returns of `policy` over n_episodes fresh episodes, with the random and demonstrator baselines.

    Returns a dict: mean_return, std_return, se_return (its standard error), returns (list), n_episodes, seed,
    wall_time_s, episodes_per_s, mean_action_change and se_action_change (the mean |a[k+1] - a[k]| of the
    executed actions, per episode: see action_change); for a task that reports info["is_success"],
    success_rate, success_ci (the 95% Wilson interval) and successes (list); the task's own measures
    (dpedu.envs.EPISODE_MEASURES, e.g. the side taken and the side switches on dpedu/Detour-v0, Chi et al.'s score
    on dpedu/PushT-v0); and, with
    baselines=True, random_mean_return, demonstrator_mean_return and normalized_score = (mean - random) /
    (demonstrator - random): 0 is random, 1 is the demonstrator. progress: a tqdm bar over finished episodes
    (the policy's; the baselines' rollouts run without one). latency: control steps by which the policy's
    observations lag behind the world (rollouts; the baselines act without latency).
    """
    check_env_id(env_id)
    check_policy_fits(policy, env_id)
    start = time.perf_counter()
    episodes = rollouts(policy, env_id, n_episodes, seed, n_envs, progress=progress, latency=latency)
    wall = time.perf_counter() - start
    returns, change = episodes["returns"], action_change(episodes["actions"])
    result = {
        "env_id": env_id,
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "se_return": standard_error(returns),
        "returns": returns.round(3).tolist(),
        "n_episodes": n_episodes,
        "seed": seed,
        "latency": latency,
        "wall_time_s": round(wall, 3),
        "episodes_per_s": round(n_episodes / wall, 2),
        "mean_action_change": float(change.mean()),
        "se_action_change": standard_error(change),
    }
    if episodes["successes"] is not None:
        k = int(episodes["successes"].sum())
        result.update(success_rate=k / n_episodes, success_ci=wilson_interval(k, n_episodes),
                      successes=episodes["successes"].tolist())
    measure = EPISODE_MEASURES.get(env_id)
    if measure is not None:  # the task's own per-episode measures, e.g. the side taken round an obstacle
        result.update(measure(episodes))
    if baselines:
        random_mean, demo_mean = baseline_returns(env_id, n_episodes, seed)
        result.update(random_mean_return=random_mean, demonstrator_mean_return=demo_mean,
                      normalized_score=(result["mean_return"] - random_mean) / (demo_mean - random_mean))
    return result
