"""Demonstrations by hand, as the paper's were: drive Push-T's agent with the mouse, 10 times a second, in JupyterLab.

    from dpedu.course.teleop import PushTTeleop
    PushTTeleop("my_demos.zarr")          # then: Start, move the mouse over the scene, push the grey T onto the green

Chi et al.'s 200 Push-T demonstrations were made so: a person moved a mouse, and its position, read at 10 Hz, was
the agent's target (the env's action, position control). The widget draws the scene in the browser on a <canvas>
from the state Python sends (the block's 8 keypoints, the goal T, the agent, the mouse's target); the browser's
clock sends the target every 100 ms (teleop.js), Python steps dpedu/PushT-v0 with it and sends the new state back.
One step is in flight at a time: a kernel slower than 10 Hz slows the clock down rather than queueing steps.

An episode ends, and is appended whole to the dataset (`DemoWriter(path, ..., source="teleop")`, Chi et al.'s zarr
layout: dpedu/datasets.py), when the block covers the goal (coverage > 0.95, the env's success); Save appends it by
hand (an unfinished demonstration, your call), Discard drops it. At the 300-step limit the clock stops and waits for
Save or Discard. Each episode stores its start seed, so `dpedu.datasets.replay` can re-run it. The dataset is the
same kind the planner writes: `Trainer("diffusion", dataset=path)` learns from it (notebook 08).

Seeds: `seed=s` starts every episode from env seed s (several demonstrations of one start: see how your own choices
vary); `seed=None` takes, at each Start, the smallest seed from 0 that is neither in the dataset nor started by this
widget before. Seeds from dpedu.envs.pusht.TEST_START_SEED on are the test starts, never used for demonstrations.
"""

from __future__ import annotations

import os
from pathlib import Path

import anywidget
import gymnasium as gym
import numpy as np
import traitlets

from dpedu.datasets import EXTRA_ARRAYS, Demonstrations, DemoWriter
from dpedu.envs.pusht import ENV_ID, GOAL_POSE, MAX_EPISODE_STEPS, TABLE, TEST_START_SEED, keypoints

OBS_DIM, ACT_DIM, STATE_DIM = 18, 2, 5  # 8 keypoints (x, y) then the agent; the target; Chi et al.'s data/state


class PushTTeleop(anywidget.AnyWidget):
    """Record Push-T demonstrations with the mouse into the dataset at `path` (created, or appended to).

    path: a .zarr directory (DemoWriter's format; an existing dataset of another env -> ValueError);
    seed: None (each episode a fresh seed) or an int in [0, TEST_START_SEED) that every episode starts from;
    size: the canvas's side in CSS pixels (200-1024; the scene is 512 x 512 env units).

    From Python as from the buttons: `start()`, `step(target)`, `save()`, `discard()`; the browser sends the same
    four as messages ({"type": "step", "target": [x, y]}, ...) to `handle_message`.
    """

    _esm = Path(__file__).with_name("teleop.js")
    # What the browser draws (synced): the goal T's keypoints once; per step the block's keypoints, the agent,
    # the step and the coverage.
    goal = traitlets.List(traitlets.Float()).tag(sync=True)
    scene = traitlets.Dict().tag(sync=True)
    # "idle" (no episode), "running" (the clock sends targets) or "ended" (time limit: Save or Discard).
    phase = traitlets.Unicode("idle").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    size = traitlets.Int(512).tag(sync=True)

    def __init__(self, path: str | os.PathLike, seed: int | None = None, size: int = 512):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike (a .zarr directory), got {type(path).__name__}")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
                raise TypeError(f"seed must be None or an int, got {type(seed).__name__}")
            if not 0 <= seed < TEST_START_SEED:
                raise ValueError(f"seed must be in [0, {TEST_START_SEED}) (seeds from {TEST_START_SEED} on are the "
                                 f"test starts, kept out of every dataset), got {seed}")
        if isinstance(size, bool) or not isinstance(size, int) or not 200 <= size <= 1024:
            raise ValueError(f"size must be an int from 200 to 1024 (CSS pixels), got {size!r}")
        super().__init__(size=size)
        self.path = Path(path)
        self.seed = None if seed is None else int(seed)
        # Created (or opened, checked for env and shapes) now, so a wrong path fails before anyone demonstrates.
        # The same arrays as the planner's datasets (`dpedu dataset record`), so either can append to the other.
        self.env = gym.make(ENV_ID)
        self.writer = DemoWriter(self.path, ENV_ID, obs_dim=OBS_DIM, act_dim=ACT_DIM, state_dim=STATE_DIM,
                                 extras={"keypoint": (8, 2)}, obs_type=self.env.unwrapped.obs_type, source="teleop")
        saved = Demonstrations.open(self.path)
        self.n_saved = saved.n_episodes
        self._used_seeds = set(saved.episode_seeds.tolist())
        self.goal = keypoints(GOAL_POSE).ravel().tolist()  # (16,): x0, y0, ..., x7, y7 as in the observation
        self.episode_seed: int | None = None
        self._obs = self._actions = self._states = None  # the running episode's o_t, a_t, state_t
        self.on_msg(self.handle_message)
        self.status = (f"{_episodes(self.n_saved)} in {self.path.name}. Start, then move the mouse over the scene: "
                       f"the blue agent follows it; push the grey T onto the green one.")

    # ----- the four things a learner does -----

    def start(self) -> None:
        """Reset the env to a start (the given seed, or the next unused one) and start the 10 Hz clock."""
        if self.phase != "idle":
            raise ValueError(f"an episode is under way ({len(self._actions)} steps): Save or Discard it first")
        self.episode_seed = self.seed if self.seed is not None else self._next_seed()
        self._used_seeds.add(self.episode_seed)
        obs, info = self.env.reset(seed=self.episode_seed)
        self._obs, self._actions, self._states = [obs], [], [info["state"]]
        self._show(obs, info["coverage"])
        self.phase = "running"

    def step(self, target) -> None:
        """Step the env with `target` (x, y), the mouse in env coordinates: the action a_t after o_t."""
        if self.phase != "running":
            raise ValueError(f"no episode is running (phase {self.phase!r}): Start one first")
        try:
            action = np.asarray(target, dtype=np.float64)
        except (TypeError, ValueError):
            action = None
        if action is None or action.shape != (ACT_DIM,) or not np.all(np.isfinite(action)):
            raise ValueError(f"target must be 2 finite numbers (x, y), got {target!r}")
        if np.any(action < 0) or np.any(action > TABLE):
            raise ValueError(f"target must lie in [0, {TABLE:g}]^2 (env coordinates), got {target!r}")
        self._actions.append(action.astype(np.float32))
        obs, _, terminated, truncated, info = self.env.step(self._actions[-1])
        self._obs.append(obs)
        self._states.append(info["state"])
        self._show(obs, info["coverage"])
        if terminated:  # the env's success: coverage > 0.95
            self._append(f"success at step {len(self._actions)}")
        elif truncated:
            self.phase = "ended"
            self.status = (f"time limit: {len(self._actions)} steps, coverage {info['coverage']:.2f}. Save keeps "
                           f"this demonstration, Discard drops it.")

    def save(self) -> None:
        """End the episode by hand and append it to the dataset (whether or not it reached the goal)."""
        if self.phase == "idle":
            raise ValueError("no episode to save: Start one first")
        if not self._actions:
            raise ValueError("no steps recorded yet: move the mouse over the scene first, or Discard")
        self._append(f"saved by hand at step {len(self._actions)}")

    def discard(self) -> None:
        """End the episode by hand; nothing is written."""
        if self.phase == "idle":
            raise ValueError("no episode to discard")
        steps = len(self._actions)
        self._end()
        self.status = (f"discarded ({steps} steps, seed {self.episode_seed}); {_episodes(self.n_saved)} in "
                       f"{self.path.name}")

    def handle_message(self, widget, content, buffers) -> None:
        """The browser's messages: {"type": "start" | "step" | "save" | "discard"}, a step with "target": [x, y].

        A step that arrives after its episode ended is dropped: the clock's tick and a click on Save can cross on
        the way to the kernel. A refused start/save/discard (see those methods) shows its reason in the status line.
        """
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "step":
            if self.phase == "running":
                self.step(content.get("target"))
            return
        actions = {"start": self.start, "save": self.save, "discard": self.discard}
        if kind not in actions:
            raise ValueError(f"unknown message {content!r}: the type must be one of start, step, save, discard")
        try:
            actions[kind]()
        except ValueError as error:
            self.status = f"{kind}: {error}"

    # ----- plumbing -----

    def _next_seed(self) -> int:
        seed = 0
        while seed in self._used_seeds:
            seed += 1
        return seed

    def _show(self, obs: np.ndarray, coverage: float) -> None:
        steps = len(self._actions)
        self.scene = {"keypoints": obs[:16].tolist(), "agent": obs[16:18].tolist(), "step": steps,
                      "coverage": float(coverage)}
        self.status = (f"seed {self.episode_seed} · step {steps}/{MAX_EPISODE_STEPS} · coverage {coverage:.2f} · "
                       f"{_episodes(self.n_saved)} in {self.path.name}")

    def _append(self, why: str) -> None:
        # o_0..o_{L-1} with a_0..a_{L-1}: the observation after the last action has no label and is not stored.
        steps = len(self._actions)
        coverage = self.scene["coverage"]
        obs = np.stack(self._obs[:steps])  # (L, 18)
        self.writer.append_episode(obs, np.stack(self._actions), seed=self.episode_seed,
                                   state=np.stack(self._states[:steps]), **EXTRA_ARRAYS[ENV_ID](obs))
        self.n_saved += 1
        self._end()
        self.status = (f"{why} (seed {self.episode_seed}, coverage {coverage:.2f}): episode saved; "
                       f"{_episodes(self.n_saved)} in {self.path.name}")

    def _end(self) -> None:
        self._obs = self._actions = self._states = None
        self.phase = "idle"


def _episodes(n: int) -> str:
    return f"{n} episode" if n == 1 else f"{n} episodes"

