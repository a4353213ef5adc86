"""Exercise (notebook 06): the receding-horizon act loop, plan a chunk, execute its first actions, re-plan."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from dpedu.course.exercises.checking import Passed, reports_not_attempted
from dpedu.policy import RecedingHorizon

SIGNATURE = "receding_horizon(plan, env_step, obs, n_steps, n_action_steps)"
EQUATION = ("at t = 0, n_action_steps, 2 n_action_steps, ...: chunk = plan(obs) with the newest obs; execute "
            "chunk[0], ..., chunk[n_action_steps - 1], each as obs = env_step(action); stop after n_steps actions")


def reference_receding_horizon(plan: Callable[[torch.Tensor], torch.Tensor],
                               env_step: Callable[[torch.Tensor], torch.Tensor], obs: torch.Tensor, n_steps: int,
                               n_action_steps: int) -> torch.Tensor:
    """Act for n_steps environment steps by receding horizon, with an observation window of one step (To = 1).

    plan(obs) -> (H, act_dim), the chunk A_t planned from o_t; env_step(action) -> the next observation.
    Returns the executed actions, (n_steps, act_dim).
    """
    actions = []
    while len(actions) < n_steps:
        chunk = plan(obs)  # (H, act_dim), planned from the newest observation
        for action in chunk[:n_action_steps]:  # open loop: the first n_action_steps, no re-planning in between
            if len(actions) == n_steps:  # the last chunk may be cut
                break
            obs = env_step(action)
            actions.append(action)
    return torch.stack(actions)  # (n_steps, act_dim)


class _World:
    """A scripted environment and planner that record what the loop does.

    The observation is o_t = (t, s_t): the step count and a running sum of the actions. plan(o) returns a chunk
    that names the step it was planned at and its own index: chunk[i] = (10 t + i, s_t), so every executed
    action says which plan it came from and which of its actions it is.
    """

    def __init__(self, horizon: int):
        self.horizon, self.obs, self.plans, self.steps = horizon, torch.tensor([0.0, 1.0]), [], 0

    def plan(self, obs: torch.Tensor) -> torch.Tensor:
        obs = torch.as_tensor(obs, dtype=torch.float32).reshape(-1)
        self.plans.append((self.steps, obs.tolist()))
        i = torch.arange(self.horizon, dtype=torch.float32)
        return torch.stack([10 * obs[0] + i, obs[1].expand(self.horizon)], dim=-1)  # (H, 2)

    def env_step(self, action: torch.Tensor) -> torch.Tensor:
        action = torch.as_tensor(action, dtype=torch.float32).reshape(-1)
        self.steps += 1
        self.obs = torch.stack([self.obs[0] + 1, self.obs[1] + 0.01 * action[0] + action[1]])
        return self.obs.clone()


def _truth(horizon: int, n_steps: int, n_action_steps: int) -> tuple[torch.Tensor, list]:
    """The package's policy.RecedingHorizon with obs_horizon = 1 on one environment; its actions and plan calls."""
    world, queue = _World(horizon), RecedingHorizon(obs_horizon=1, n_action_steps=n_action_steps)
    plan = lambda history: world.plan(torch.from_numpy(history[0, -1]))[None].numpy()  # noqa: E731  (1, H, 2)
    obs, actions = world.obs.clone(), []
    for _ in range(n_steps):
        action = queue.act(obs[None].numpy(), plan)[0]
        actions.append(torch.from_numpy(np.array(action)))
        obs = world.env_step(actions[-1])
    return torch.stack(actions), world.plans


def _loop(horizon: int, n_steps: int, n_action_steps: int, *, every: int | None = None, take=None, stale=False,
          first_obs=False) -> torch.Tensor:
    """A (possibly wrong) loop: re-plan every `every` actions, execute chunk[take(i)], plan from which obs."""
    world = _World(horizon)
    obs0 = obs = previous = world.obs.clone()
    every = n_action_steps if every is None else every
    actions, chunk = [], None
    for step in range(n_steps):
        if step % every == 0:
            chunk = world.plan(obs0 if first_obs else previous if stale else obs)
        i = step % every
        action = chunk[take(i, len(chunk)) if take else i]
        actions.append(action)
        previous, obs = obs, world.env_step(action)
    return torch.stack(actions)


def _never_replans(horizon: int, n_steps: int, n_action_steps: int) -> torch.Tensor:
    world = _World(horizon)
    chunk = world.plan(world.obs.clone())
    actions = [chunk[step % n_action_steps] for step in range(n_steps)]
    for action in actions:
        world.env_step(action)
    return torch.stack(actions)


MISTAKES = [
    ("it re-plans at every step (executing only chunk[0]): execute the first n_action_steps actions of a chunk open "
     "loop, then plan again. Re-planning every step throws away the chunk's temporal consistency (and costs "
     "n_action_steps times more sampling).", lambda H, n, m: _loop(H, n, m, every=1)),
    ("it never re-plans: it keeps executing the first chunk. Plan again from the newest observation after "
     "n_action_steps actions.", _never_replans),
    ("it executes the chunk's *last* n_action_steps actions: execute the first ones, chunk[:n_action_steps]; the "
     "chunk starts at the present step t.", lambda H, n, m: _loop(H, n, m, take=lambda i, h: h - m + i)),
    ("it executes the whole chunk (H actions) before re-planning: execute only its first n_action_steps.",
     lambda H, n, m: _loop(H, n, m, every=H)),
    ("it re-plans from the episode's first observation: plan from the newest one, the obs returned by the last "
     "env_step.", lambda H, n, m: _loop(H, n, m, first_obs=True)),
    ("it re-plans from a stale observation, one step old: plan from the obs returned by the last env_step.",
     lambda H, n, m: _loop(H, n, m, stale=True)),
    ("it re-plans one step too late (after n_action_steps + 1 actions): plan at t = 0, n_action_steps, "
     "2 n_action_steps, ...", lambda H, n, m: _loop(H, n, m, every=m + 1)),
    ("it re-plans one step too early (after n_action_steps - 1 actions): plan at t = 0, n_action_steps, "
     "2 n_action_steps, ...", lambda H, n, m: _loop(H, n, m, every=m - 1)),
]

# (H, n_steps, n_action_steps): the first cuts its last chunk; the third re-plans every step (n_action_steps = 1).
CASES = [(8, 10, 4), (4, 7, 3), (3, 5, 1), (8, 16, 8)]


def _diagnose(got: torch.Tensor, expected: torch.Tensor, H: int, n: int, m: int) -> str:
    for says, formula in MISTAKES:
        try:
            wrong = formula(H, n, m)
        except (IndexError, RuntimeError, ZeroDivisionError):
            continue
        if wrong.shape == got.shape and torch.allclose(wrong, got) and not (
                wrong.shape == expected.shape and torch.allclose(wrong, expected)):
            return says
    row = next(i for i in range(len(got)) if not torch.allclose(got[i], expected[i]))
    return (f"the first wrong action is number {row}: got {got[row].tolist()}, expected {expected[row].tolist()} "
            "(an action (10 t + i, s) is action i of the chunk planned at step t); none of the common mistakes "
            "matches.")


@reports_not_attempted("receding_horizon")
def check_receding_horizon(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's loop against policy.RecedingHorizon (obs_horizon = 1) on a scripted environment whose
    planner records when it was called and with which observation."""
    for H, n, m in CASES:
        where = f"H = {H}, n_steps = {n}, n_action_steps = {m}"
        expected, expected_plans = _truth(H, n, m)
        world = _World(H)
        start = world.obs.clone()
        try:
            got = fn(world.plan, world.env_step, start, n, m)
        except NotImplementedError:
            raise
        except Exception as e:
            hint = ("\n  Hint: a chunk holds H actions; re-plan after n_action_steps of them."
                    if isinstance(e, IndexError) or "out of" in str(e) else "")
            raise AssertionError(f"{SIGNATURE} raised {type(e).__name__} on {where}:\n    {e}{hint}") from e
        if not torch.equal(start, torch.tensor([0.0, 1.0])):
            raise AssertionError(f"{SIGNATURE} changed its input `obs` in place: rebind obs = env_step(action) "
                                 "instead of writing into it.")
        if got is None:
            raise AssertionError(f"{SIGNATURE} returned None: did you forget `return`? Expected a tensor of shape "
                                 f"({n}, act_dim).")
        if isinstance(got, (list, tuple)):
            raise AssertionError(f"{SIGNATURE} returned a {type(got).__name__}: stack the actions into one tensor, "
                                 "torch.stack(actions), of shape (n_steps, act_dim).")
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise AssertionError(f"{SIGNATURE} returned {shape} on {where}, expected a tensor of shape "
                                 f"{tuple(expected.shape)}: n_steps actions, no more (cut the last chunk).")
        if world.steps != n:
            raise AssertionError(f"{SIGNATURE} called env_step {world.steps} times on {where}: every executed "
                                 f"action goes through env_step once, n_steps = {n} in all.")
        if not torch.allclose(got.float(), expected) or world.plans != expected_plans:
            message = _diagnose(got.float(), expected, H, n, m)
            raise AssertionError(f"{SIGNATURE} is wrong on {where}:\n  {message}\n  Plans were made at steps "
                                 f"{[s for s, _ in world.plans]}, expected at {[s for s, _ in expected_plans]}."
                                 f"\n  Expected: {EQUATION}")
    return Passed(f"Correct: {SIGNATURE} acts as policy.RecedingHorizon does on {len(CASES)} cases (re-plans at the "
                  "right steps, from the newest observation, executing the first n_action_steps of each chunk).")
