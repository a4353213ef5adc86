"""The Push-T teleoperation widget (dpedu/course/teleop.py): demonstrations by hand into a dataset.

Without a browser: the widget's message handler is driven exactly as the browser drives it, and the dataset it
writes is read back (the episode holds the targets sent, in order, and replays to the observations recorded).
With a browser (mark `browser`, like tests/test_browser.py): JupyterLab in headless Chromium shows the widget,
Playwright moves the mouse over its canvas through >= 20 control steps and clicks Save; the dataset gained one
episode whose actions are the mouse's positions in env coordinates.

    python -m pytest tests/test_teleop.py -m browser       # the browser test alone, ~30 s on 2 cores

DPEDU_SCREENSHOT_DIR=shots saves the widget in mid-episode as shots/teleop.png.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import time
import tomllib
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from chromium import importable, require

import dpedu  # noqa: F401  (registers dpedu/PushT-v0)
from dpedu.course.teleop import PushTTeleop
from dpedu.datasets import Demonstrations, DemoWriter, record, replay
from dpedu.envs.pusht import ENV_ID, GOAL_POSE, MAX_EPISODE_STEPS, TEST_START_SEED

ROOT = Path(__file__).resolve().parents[1]


def send(widget, **content):
    """What the browser does: one custom message to the widget's handler."""
    widget.handle_message(widget, content, [])


def collapse(actions: np.ndarray) -> np.ndarray:
    """Consecutive equal rows kept once: at 10 Hz one mouse position is sent for several steps."""
    keep = np.r_[True, np.any(np.diff(actions, axis=0) != 0, axis=1)]
    return actions[keep]


# ----- without a browser -----

def test_an_episode_holds_the_targets_sent_and_replays_to_its_observations(tmp_path):
    path = tmp_path / "demos.zarr"
    widget = PushTTeleop(path)
    send(widget, type="start")
    assert widget.phase == "running" and widget.episode_seed == 0 and widget.scene["step"] == 0
    start_obs = np.r_[widget.scene["keypoints"], widget.scene["agent"]]
    rng = np.random.default_rng(0)
    targets = rng.uniform(20, 490, size=(25, 2)).round(3)
    for i, target in enumerate(targets):
        send(widget, type="step", target=target.tolist())
        assert widget.scene["step"] == i + 1 and f"step {i + 1}/{MAX_EPISODE_STEPS}" in widget.status
    send(widget, type="save")
    assert widget.phase == "idle" and widget.n_saved == 1 and "episode saved" in widget.status

    data = Demonstrations.open(path)
    assert data.n_episodes == 1 and data.env_id == ENV_ID and data.attrs["source"] == "teleop"
    episode = data.episode(0)
    assert episode["seed"] == 0
    np.testing.assert_array_equal(episode["action"], targets.astype(np.float32))
    assert episode["obs"].shape == (25, 18) and episode["state"].shape == (25, 5)
    np.testing.assert_allclose(episode["obs"][0], start_obs, atol=1e-4)
    # The defining property of a demonstration on disk: its seed and actions reproduce what the learner saw.
    env = gym.make(ENV_ID)
    obs, info = env.reset(seed=episode["seed"])
    for t, action in enumerate(episode["action"]):
        np.testing.assert_allclose(episode["obs"][t], obs, atol=1e-4, err_msg=f"step {t}")
        np.testing.assert_allclose(episode["state"][t], info["state"], atol=1e-6, err_msg=f"step {t}")
        obs, _, _, _, info = env.step(action)
    # ... and from its stored initial state, as dpedu.datasets.replay checks a shipped episode.
    replayed = replay(path, 0)
    assert replayed["steps"] == 25 and replayed["obs_error"] < 1e-3
    np.testing.assert_array_equal(episode["keypoint"], episode["obs"][:, :16].reshape(-1, 8, 2))


def test_reaching_the_goal_ends_the_episode_and_appends_it(tmp_path):
    """The built-in planner's targets, sent through the widget as a mouse would send them, reach the goal."""
    from dpedu.envs import make_demonstrator

    path = tmp_path / "demos.zarr"
    widget = PushTTeleop(path, seed=3)
    demonstrator = make_demonstrator(ENV_ID, seed=0)
    demonstrator.reset()
    send(widget, type="start")
    obs = np.r_[widget.scene["keypoints"], widget.scene["agent"]].astype(np.float32)
    sent = []
    while widget.phase == "running":
        sent.append(np.asarray(demonstrator.act(obs), dtype=np.float32))
        send(widget, type="step", target=sent[-1].tolist())
        obs = np.r_[widget.scene["keypoints"], widget.scene["agent"]].astype(np.float32)
    assert widget.phase == "idle" and widget.scene["coverage"] > 0.95, widget.status
    assert widget.n_saved == 1 and "success" in widget.status
    episode = Demonstrations.open(path).episode(0)
    assert episode["seed"] == 3
    np.testing.assert_array_equal(episode["action"], np.stack(sent))
    send(widget, type="step", target=[100.0, 100.0])  # a tick crossing the episode's end: dropped
    assert widget.phase == "idle" and Demonstrations.open(path).n_steps == len(sent)


class HoldStill:
    """A demonstrator of your own (docs/your-own-task.md): it keeps the agent's target where the agent starts."""

    def reset(self):
        self.target = None

    def act(self, obs):
        if self.target is None:
            self.target = np.asarray(obs[16:18], dtype=np.float32)
        return self.target


def test_teleop_and_recorded_episodes_share_one_dataset(tmp_path):
    """A dataset `record` wrote (Push-T's arrays, keypoints included) takes the widget's episodes, and back."""
    path = tmp_path / "demos.zarr"
    record(ENV_ID, path, n_episodes=1, demonstrator=HoldStill(), only_successful=False, progress=False)
    widget = PushTTeleop(path)
    assert widget.n_saved == 1
    send(widget, type="start")
    assert widget.episode_seed == 1  # seed 0 is the recorded episode's
    send(widget, type="step", target=[300.0, 300.0])
    send(widget, type="save")
    record(ENV_ID, path, n_episodes=3, demonstrator=HoldStill(), only_successful=False, progress=False)
    data = Demonstrations.open(path)
    assert data.episode_seeds.tolist() == [0, 1, 2] and set(data.attrs["source"].split("+")) >= {"teleop"}


def test_the_time_limit_stops_the_clock_until_save_or_discard(tmp_path):
    path = tmp_path / "demos.zarr"
    widget = PushTTeleop(path)
    send(widget, type="start")
    for _ in range(MAX_EPISODE_STEPS):
        send(widget, type="step", target=[30.0, 30.0])
    assert widget.phase == "ended" and "time limit" in widget.status
    send(widget, type="step", target=[40.0, 40.0])  # the clock's last tick: dropped, nothing recorded
    with pytest.raises(ValueError, match="no episode is running"):
        widget.step([40.0, 40.0])
    send(widget, type="save")
    episode = Demonstrations.open(path).episode(0)
    assert len(episode["action"]) == MAX_EPISODE_STEPS and np.all(episode["action"] == 30.0)


def test_discard_writes_nothing_and_each_start_takes_a_fresh_seed(tmp_path):
    path = tmp_path / "demos.zarr"
    widget = PushTTeleop(path)
    send(widget, type="start")
    send(widget, type="step", target=[200.0, 200.0])
    send(widget, type="discard")
    assert widget.phase == "idle" and widget.n_saved == 0 and "discarded" in widget.status
    assert Demonstrations.open(path).n_episodes == 0
    send(widget, type="start")
    assert widget.episode_seed == 1  # seed 0 was started (and discarded) by this widget
    send(widget, type="step", target=[200.0, 200.0])
    send(widget, type="save")
    # A new widget on the same dataset (a new session) skips the seeds already saved.
    again = PushTTeleop(path)
    assert again.n_saved == 1 and "1 episode in demos.zarr" in again.status
    send(again, type="start")
    assert again.episode_seed == 0
    send(again, type="discard")
    send(again, type="start")
    assert again.episode_seed == 2
    # A given seed starts every episode.
    fixed = PushTTeleop(path, seed=5)
    for _ in range(2):
        send(fixed, type="start")
        assert fixed.episode_seed == 5
        send(fixed, type="step", target=[60.0, 60.0])
        send(fixed, type="save")
    assert [e["seed"] for e in map(Demonstrations.open(path).episode, range(3))] == [1, 5, 5]


def test_the_goal_drawn_is_the_goal_the_env_scores(tmp_path):
    """The green T the widget draws is where the block must go: the block put there covers it fully."""
    widget = PushTTeleop(tmp_path / "demos.zarr")
    obs, info = gym.make(ENV_ID).reset(options={"state": [256.0, 450.0, *GOAL_POSE]})  # the agent off the T
    assert info["coverage"] > 0.999
    np.testing.assert_allclose(widget.goal, obs[:16], atol=1e-4)


def test_refused_clicks_say_why_in_the_status_line_and_write_nothing(tmp_path):
    path = tmp_path / "demos.zarr"
    widget = PushTTeleop(path)
    send(widget, type="save")
    assert widget.status == "save: no episode to save: Start one first"
    send(widget, type="start")
    send(widget, type="save")
    assert "no steps recorded yet" in widget.status and widget.phase == "running"
    send(widget, type="start")
    assert "Save or Discard it first" in widget.status
    assert Demonstrations.open(path).n_episodes == 0


@pytest.mark.parametrize("kwargs, error, match", [
    ({"path": 3}, TypeError, "path must be a str or os.PathLike"),
    ({"seed": True}, TypeError, "seed must be None or an int"),
    ({"seed": -1}, ValueError, r"seed must be in \[0, 100000\)"),
    ({"seed": TEST_START_SEED}, ValueError, "test starts"),
    ({"size": 50}, ValueError, "size must be an int from 200 to 1024"),
])
def test_bad_arguments_are_refused(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        PushTTeleop(**{"path": tmp_path / "demos.zarr", **kwargs})


@pytest.mark.parametrize("target, match", [
    ([1.0], "2 finite numbers"), ([1.0, float("nan")], "2 finite numbers"), ("ab", "2 finite numbers"),
    ([-1.0, 10.0], r"in \[0, 512\]\^2"), ([10.0, 513.0], r"in \[0, 512\]\^2"),
])
def test_bad_targets_and_messages_are_refused(tmp_path, target, match):
    widget = PushTTeleop(tmp_path / "demos.zarr")
    send(widget, type="start")
    with pytest.raises(ValueError, match=match):
        send(widget, type="step", target=target)
    with pytest.raises(ValueError, match="unknown message"):
        send(widget, type="jump")
    assert widget.scene["step"] == 0


def test_a_dataset_of_another_env_is_refused_before_anyone_demonstrates(tmp_path):
    path = tmp_path / "pendulum.zarr"
    DemoWriter(path, "Pendulum-v1", obs_dim=3, act_dim=1)
    with pytest.raises(ValueError, match="Pendulum-v1"):
        PushTTeleop(path)


def test_the_widget_script_ships_with_the_package():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["dpedu"]
    assert any(fnmatch.fnmatch("course/teleop.js", p) for p in patterns), patterns
    assert (ROOT / "dpedu" / "course" / "teleop.js").read_text() == str(PushTTeleop._esm)


# ----- in JupyterLab, with a mouse -----

N_TARGETS = 24  # mouse positions, each held for >= 1 control step: >= 20 steps


def teleop_notebook(dataset) -> dict:
    source = f"from dpedu.course.teleop import PushTTeleop\nPushTTeleop({str(dataset)!r}, seed=7)"
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": "teleop", "metadata": {},
                       "outputs": [], "source": source}],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


def mouse_path() -> np.ndarray:
    """N_TARGETS points (env coordinates) round the arena's edge, away from the middle where the T starts."""
    corners = np.array([[40.0, 40.0], [470.0, 40.0], [470.0, 470.0], [40.0, 470.0]])
    s = np.linspace(0, 3, N_TARGETS)
    i = np.minimum(s.astype(int), 2)
    return (corners[i] + (s - i)[:, None] * (corners[i + 1] - corners[i])).round(1)


STEP_JS = """() => {
  const m = document.querySelector(".dpedu-teleop-status")?.textContent.match(/step (\\d+)\\//);
  return m ? Number(m[1]) : -1;
}"""


@pytest.mark.browser
def test_mouse_moves_in_jupyterlab_become_one_episode(tmp_path, browser, monkeypatch):
    require(importable("jupyterlab"), "jupyterlab is not installed")
    from playwright.sync_api import expect
    from test_browser import SHUTDOWN_SESSIONS_JS, jupyter_lab, run_all_cells

    dataset = tmp_path / "demos.zarr"
    root = tmp_path / "lab"
    root.mkdir()
    (root / "teleop.ipynb").write_text(json.dumps(teleop_notebook(dataset)))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the kernel imports this checkout's dpedu
    timings = {}
    start = time.monotonic()
    with jupyter_lab(root, tmp_path / "home") as url:
        timings["lab_s"] = time.monotonic() - start
        context = browser.new_context(viewport={"width": 1200, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        js_errors = []
        page.on("console", lambda m: js_errors.append(f"console.error: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: js_errors.append(f"pageerror: {e}"))
        try:
            page.goto(f"{url}/lab/tree/teleop.ipynb?reset")
            run_all_cells(page, "teleop.ipynb")
            canvas = page.locator(".dpedu-teleop-canvas")
            status = page.locator(".dpedu-teleop-status")
            expect(canvas).to_be_visible()
            expect(status).to_contain_text("0 episodes in demos.zarr")
            timings["widget_s"] = time.monotonic() - start
            canvas.scroll_into_view_if_needed()
            page.locator(".dpedu-teleop-start").click()
            expect(status).to_contain_text("seed 7 · step")
            box = canvas.bounding_box()
            scale = 512 / box["width"]  # env units per CSS pixel
            page_xy = np.round(mouse_path() / scale + [box["x"], box["y"]])  # whole CSS pixels, as a mouse
            clock = time.monotonic()
            for x, y in page_xy:
                shown = page.evaluate(STEP_JS)
                page.mouse.move(float(x), float(y))
                # At most one step is in flight when the mouse moves, and the status line may lag the scene by
                # one: three more steps shown means at least one step was sent with this position.
                page.wait_for_function(f"() => ({STEP_JS})() >= {shown + 3}")
            timings["steps_per_s"] = page.evaluate(STEP_JS) / (time.monotonic() - clock)
            if os.environ.get("DPEDU_SCREENSHOT_DIR"):  # as tests/test_browser.py: a picture to look at
                page.locator(".jp-OutputArea-output").first.screenshot(
                    path=str(Path(os.environ["DPEDU_SCREENSHOT_DIR"]) / "teleop.png"))
            page.locator(".dpedu-teleop-save").click()
            expect(status).to_contain_text("episode saved; 1 episode in demos.zarr")
            assert not js_errors, "JavaScript errors in the page:\n" + "\n".join(js_errors)
        finally:
            with contextlib.suppress(Exception):
                page.evaluate(SHUTDOWN_SESSIONS_JS)
            context.close()
    timings["total_s"] = time.monotonic() - start
    print({k: round(v, 1) for k, v in timings.items()})

    data = Demonstrations.open(dataset)
    assert data.n_episodes == 1 and data.attrs["source"] == "teleop"
    episode = data.episode(0)
    assert episode["seed"] == 7 and len(episode["action"]) >= 20 + N_TARGETS
    runs = collapse(episode["action"])
    # Before the mouse reaches the canvas the target is where the agent started.
    if np.allclose(runs[0], episode["obs"][0, 16:18]):
        runs = runs[1:]
    expected = (page_xy - [box["x"], box["y"]]) * scale  # the mouse, in env coordinates
    assert runs.shape == expected.shape, (runs, expected)
    np.testing.assert_allclose(runs, expected, atol=scale + 1e-3)  # within a CSS pixel of the canvas
