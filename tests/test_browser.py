"""The course's widgets, the way a learner meets them: JupyterLab in headless Chromium (Playwright).

nbval runs the notebooks in a kernel but never shows them to a browser, so a widget that does not render
("Loading widget...", a missing labextension, a JavaScript error) passes nbval. This test starts JupyterLab
on 127.0.0.1 (random free port, no token) in a temporary copy of notebooks/, opens every notebook whose
stored outputs hold a widget, runs all its cells and checks that each widget rendered, that no cell wrote
an error and that the page logged no JavaScript error; it moves one slider and checks that the plot beside
it was redrawn. One screenshot per notebook goes to $DPEDU_SCREENSHOT_DIR (a temporary directory when
unset): NAME.png (1400 x 900, the slider's cell in view) and NAME-full.png (the whole notebook).

    DPEDU_SCREENSHOT_DIR=shots python -m pytest tests/test_browser.py     # 3.5-5 min on 2 cores
    python -m pytest tests/test_browser.py -m "not slow"                 # 01 and 02 only, ~1 min

Notebooks 04 and 05 train a policy (a minute or more each) and carry the `slow` mark. Needs Chromium at
/usr/bin/chromium (Debian package `chromium`; Playwright never downloads a browser here) and the Python
package playwright. Without them the test is skipped, or fails when $CI is set (CI must run it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import importable, require

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
VIEWPORT = {"width": 1400, "height": 900}
RUN_ALL_TIMEOUT_S = 420  # notebooks 04 and 05 train a policy for about a minute each on 2 cores
# JupyterLab user settings for the test server: no news toast, every cell attached to the DOM (the default
# windowing leaves cells out of view unrendered, and the checks below look at all of them), no blank space
# after the last cell in the full-notebook screenshot.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "scrollPastEnd": False},
}


def widget_cells(path: Path) -> list[int]:
    """Indices (among all cells) of the code cells whose stored outputs display a widget."""
    cells = json.loads(path.read_text())["cells"]
    return [i for i, cell in enumerate(cells)
            if any(WIDGET_MIME in out.get("data", {}) for out in cell.get("outputs", []))]


# Notebook 08's one widget is the Push-T teleoperation widget, which tests/test_teleop.py drives in Lab (mouse moves,
# a saved episode); running 08 here too would add its minute of live training for no further check.
WIDGET_NOTEBOOKS = [p.name for p in sorted(NOTEBOOKS.glob("*.ipynb"))
                    if widget_cells(p) and p.name != "08_pusht_from_demonstrations.ipynb"]




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_env(home: Path) -> dict[str, str]:
    """The environment for the server: every per-user Jupyter/IPython/matplotlib directory under `home`.

    JUPYTER_PATH is left alone: the ipywidgets labextension lives in sys.prefix/share/jupyter, which Jupyter
    always searches.
    """
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl"),
                     ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"), ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces")]:
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    for plugin, settings in LAB_SETTINGS.items():
        file = home / "lab-settings" / f"{plugin}.jupyterlab-settings"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(settings))
    env.pop("JUPYTER_TOKEN", None)
    return env


def stop_process_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (the server shuts its kernels down), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    for sig, wait_s in [(signal.SIGTERM, 20), (signal.SIGKILL, 10)]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def kill_leftover_kernels(runtime_dir: Path) -> None:
    """Kernels run in their own sessions: kill any still alive whose connection file is in our runtime dir."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if str(runtime_dir) in cmdline.read_bytes().decode(errors="replace"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(cmdline.parent.name), signal.SIGKILL)


@contextlib.contextmanager
def jupyter_lab(root: Path, home: Path, extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Run JupyterLab (this interpreter's) on 127.0.0.1 in `root`; yield its URL; stop it, even on failure."""
    port = free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
           "--ServerApp.password=", f"--ServerApp.root_dir={root}", "--LabApp.news_url=None", *extra_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    env = lab_env(home)
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n"
                                   + (home / "server.log").read_text(errors="replace")[-3000:])
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                    if response.status == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not answer /api/status within 90 s:\n"
                                   + (home / "server.log").read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        stop_process_group(proc)
        kill_leftover_kernels(home / "runtime")
        log.close()


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory) -> Iterator[str]:
    require(importable("jupyterlab"), "jupyterlab is not installed")
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    with jupyter_lab(root, base / "home") as url:
        yield url




@pytest.fixture(scope="module")
def screenshot_dir() -> Iterator[Path]:
    chosen = os.environ.get("DPEDU_SCREENSHOT_DIR")
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        yield Path(chosen)
    else:
        with tempfile.TemporaryDirectory(prefix="dpedu-shots-") as tmp:
            yield Path(tmp)


# ----- the checks, usable on their own (see check_notebook) -----

SHUTDOWN_SESSIONS_JS = """async () => {
  const m = document.cookie.match(/_xsrf=([^;]+)/);
  const headers = m ? {"X-XSRFToken": decodeURIComponent(m[1])} : {};
  const sessions = await (await fetch("/api/sessions")).json();
  for (const s of sessions) await fetch("/api/sessions/" + s.id, {method: "DELETE", headers});
  return sessions.length;
}"""


def run_all_cells(page, name: str) -> None:
    """Wait for the kernel, click Run > Run All Cells, wait until every cell has run."""
    from playwright.sync_api import expect

    panel = page.locator(".jp-NotebookPanel:visible")
    # Clicking Run All while the toolbar still says "No Kernel" would open a kernel dialog and run nothing.
    expect(panel.locator(".jp-KernelName")).to_contain_text("Python", timeout=90_000)
    indicator = panel.locator(".jp-Notebook-ExecutionIndicator")
    expect(indicator).to_have_attribute("data-status", "idle", timeout=90_000)
    # The Checks cell's input is collapsed (source_hidden), and a collapsed input shows no execution count:
    # expand every input first, as a learner who wants to read the checks would.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^View$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Expand All Code$")).click()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    prompts = panel.locator(".jp-CodeCell .jp-InputPrompt")
    busy = panel.locator(".jp-CodeCell .jp-InputPrompt", has_text="[*]")
    expect(busy.first).to_be_visible(timeout=15_000)
    expect(busy).to_have_count(0, timeout=RUN_ALL_TIMEOUT_S * 1000)
    expect(indicator).to_have_attribute("data-status", "idle", timeout=30_000)
    counts = [p.strip() for p in prompts.all_inner_texts()]
    expected = [f"[{i}]:" for i in range(1, len(counts) + 1)]
    if counts != expected:
        first = next(i for i, (c, e) in enumerate(zip(counts, expected)) if c != e)
        raise AssertionError(f"{name}: Run All did not run every code cell once in order: code cell {first} "
                             f"shows {counts[first]!r} (expected {expected[first]!r}); prompts {counts}\n"
                             + error_outputs_text(page))


def error_outputs_text(page) -> str:
    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    texts = [t for t in errors.all_inner_texts() if "Traceback" in t or re.search(r"\w+Error\b", t)]
    return "\n---\n".join(t[-1500:] for t in texts)


def check_widgets_rendered(page, name: str, cells: list[int]) -> None:
    """Each stored widget cell shows a rendered widget; no "Loading widget", no widget or kernel error."""
    from playwright.sync_api import expect

    panel = page.locator(".jp-NotebookPanel:visible")
    # A widget shows "Loading widget..." until its view renders: give it time to, then insist.
    expect(panel.get_by_text("Loading widget", exact=False)).to_have_count(0, timeout=20_000)
    expect(panel.get_by_text("Error displaying widget", exact=False)).to_have_count(0, timeout=1_000)
    all_cells = panel.locator(".jp-Notebook .jp-Cell")
    # A widget whose JavaScript failed (unknown module, exception in render) shows ipywidgets' error view.
    broken = all_cells.evaluate_all(
        "cells => cells.flatMap((c, i) => c.querySelector('.jupyter-widgets-error-widget') ? [i] : [])")
    assert not broken, (f"{name}: widget failed to render (ipywidgets error view, 'Click to show javascript "
                        f"error') in cell(s) {broken}: "
                        + "; ".join(repr(all_cells.nth(i).locator(".jp-InputArea").inner_text()[:200])
                                    for i in broken))
    missing = []
    for i in cells:
        cell = all_cells.nth(i)
        if cell.locator(".jp-OutputArea .jupyter-widgets").count() == 0:
            missing.append(f"cell {i}: {cell.locator('.jp-OutputArea').inner_text()[:300]!r}")
    assert not missing, f"{name}: no rendered widget (DOM element .jupyter-widgets) in " + "; ".join(missing)
    errors = error_outputs_text(page)
    assert not errors, f"{name}: a cell wrote an error:\n{errors}"


def plot_after_slider(page, name: str) -> tuple[str, str]:
    """Move the first slider 5 keyboard steps right; the plot image in its cell must change. Returns readouts."""
    from playwright.sync_api import expect

    panel = page.locator(".jp-NotebookPanel:visible")
    slider = panel.locator(".widget-slider").first
    cell = slider.locator("xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' jp-Cell ')][1]")
    plot = cell.locator(".jp-OutputArea-output img").first
    indicator = panel.locator(".jp-Notebook-ExecutionIndicator")
    cell.evaluate("el => el.scrollIntoView({block: 'start'})")
    expect(plot).to_be_visible(timeout=30_000)
    before = plot.screenshot()
    readout = slider.locator(".widget-readout")
    value_before = readout.inner_text()
    slider.locator(".noUi-handle").first.click()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(readout).not_to_have_text(value_before, timeout=5_000)
    value_after = readout.inner_text()
    deadline = time.monotonic() + 90
    while True:
        time.sleep(1.0)
        if indicator.get_attribute("data-status") == "idle" and plot.count():
            time.sleep(0.5)  # let the new image finish loading
            with contextlib.suppress(Exception):
                if plot.screenshot(timeout=5_000) != before:
                    return value_before, value_after
        if time.monotonic() > deadline:
            label = slider.locator(".widget-label").inner_text()
            raise AssertionError(f"{name}: moved the slider {label!r} from {value_before} to "
                                 f"{value_after}, but the plot in its cell did not change within 90 s")


def save_screenshots(page, name: str, directory: Path, focus) -> None:
    """NAME.png: the viewport with `focus` (a cell) at the top; NAME-full.png: the whole notebook."""
    focus.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.mouse.move(0, 0)  # no hover highlight
    time.sleep(0.5)
    stem = name.removesuffix(".ipynb")
    page.screenshot(path=str(directory / f"{stem}.png"))
    scroller = page.locator(".jp-NotebookPanel:visible .jp-WindowedPanel-outer")
    height = scroller.evaluate("el => el.scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(height) + 200, 16_000)})
    scroller.evaluate("el => { el.scrollTop = 0; }")
    time.sleep(1.0)
    page.screenshot(path=str(directory / f"{stem}-full.png"))
    page.set_viewport_size(VIEWPORT)


def check_notebook(browser, url: str, name: str, cells: list[int], screenshot_dir: Path) -> dict:
    """Open NAME in JupyterLab, run it, check its widgets and one slider, save screenshots."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    js_errors: list[str] = []
    page.on("console", lambda msg: js_errors.append(f"console.error: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda err: js_errors.append(f"pageerror: {err}"))
    result = {"name": name}
    start = time.monotonic()
    try:
        page.goto(f"{url}/lab/tree/{name}?reset")  # ?reset: a fresh workspace, this notebook only
        run_all_cells(page, name)
        result["run_s"] = round(time.monotonic() - start, 1)
        check_widgets_rendered(page, name, cells)
        panel = page.locator(".jp-NotebookPanel:visible")
        result["widgets"] = panel.locator(".jp-OutputArea .jupyter-widgets").count()
        if panel.locator(".widget-slider").count():
            result["slider"] = plot_after_slider(page, name)
            focus = panel.locator(".widget-slider").first.locator(
                "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' jp-Cell ')][1]")
        else:
            focus = panel.locator(".jp-Notebook .jp-Cell").nth(cells[0])
        save_screenshots(page, name, screenshot_dir, focus)
        assert not js_errors, f"{name}: JavaScript errors in the page:\n" + "\n".join(js_errors)
        return result
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(screenshot_dir / f"{name.removesuffix('.ipynb')}-FAILED.png"))
        raise
    finally:
        with contextlib.suppress(Exception):
            page.evaluate(SHUTDOWN_SESSIONS_JS)  # free the kernel's CPU and memory for the next notebook
        context.close()
        result["total_s"] = round(time.monotonic() - start, 1)
        print(result)


def test_widget_notebooks_found():
    """The notebooks below are chosen by their stored widget outputs: guard against choosing none."""
    assert {"01_noise_schedules.ipynb", "02_denoising_multimodality.ipynb",
            "05_detour_closed_loop.ipynb", "06_fast_sampling_and_horizons.ipynb"} <= set(WIDGET_NOTEBOOKS)


# These train a real policy for about a minute before their widgets show (as the `slow` mark says).
SLOW = {"04_train_pendulum.ipynb", "05_detour_closed_loop.ipynb", "06_fast_sampling_and_horizons.ipynb"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in WIDGET_NOTEBOOKS])
def test_widgets_render_and_respond(name, lab_url, browser, screenshot_dir):
    check_notebook(browser, lab_url, name, widget_cells(NOTEBOOKS / name), screenshot_dir)
