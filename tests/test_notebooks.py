"""The course's notebooks follow the portable-tests rule (docs/testing.md), checked on their stored form.

nbval compares stored outputs strictly, so every output that depends on the machine (float kernels, thread
counts, library versions, load) must be excluded with the `nbval-ignore-output` tag and checked by an assert
instead. These tests catch the excluded kinds that can be recognised without running anything: animations,
widgets and timings; the CI's second pass under other float kernels (.ci/run) catches trained numbers.
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
IGNORE = "nbval-ignore-output"
# Output kinds whose bytes differ between machines or library versions (TOOLCHAIN.md: GIFs from one CPU fail
# on another), or that nbval cannot compare (widget views).
MACHINE_DEPENDENT_MIMES = {"image/gif", "application/vnd.jupyter.widget-view+json"}


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_the_notebooks_are_numbered_in_reading_order_and_listed_in_the_readme():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(NOTEBOOKS) + 1)), [p.name for p in NOTEBOOKS]
    readme = (NOTEBOOKS[0].parents[1] / "README.md").read_text()
    missing = [p.stem for p in NOTEBOOKS if p.stem not in readme]
    assert not missing, f"README's course list lacks {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_with_outputs_top_to_bottom(path):
    counts = [c["execution_count"] for c in code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: re-execute it top to bottom and save: {counts}"
    assert json.loads(path.read_text())["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_machine_dependent_outputs_are_excluded(path):
    for cell in code_cells(path):
        tags = cell.get("metadata", {}).get("tags", [])
        mimes = {m for out in cell["outputs"] for m in out.get("data", {})}
        source = "".join(cell["source"])
        timed = any(call in source for call in ("perf_counter", "time_networks("))
        if mimes & MACHINE_DEPENDENT_MIMES or timed or ".train(" in source:
            where = f"{path.name}, cell {cell.get('id')}"
            assert IGNORE in tags, f"{where}: {sorted(mimes)} needs the {IGNORE} tag:\n{source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ends_in_checks(path):
    last = code_cells(path)[-1]
    source = "".join(last["source"])
    assert "assert " in source and IGNORE not in last.get("metadata", {}).get("tags", []), path.name
    printed = "".join("".join(o.get("text", "")) for o in last["outputs"])
    assert "all checks passed" in printed, f"{path.name}: the stored run must end with its checks passing"


# nbgrader's marker; the learner's edition stubs what follows it (tests/test_edition.py)
EXERCISE_MARK = "### BEGIN SOLUTION"
EXERCISES = {"01_noise_schedules.ipynb": ["check_add_noise"],
             "02_denoising_multimodality.ipynb": ["check_diffusion_loss", "check_reverse_step"],
             "03_demonstrator_and_data.ipynb": ["check_obs_window"],
             "04_train_pendulum.ipynb": ["check_training_update"],
             "06_fast_sampling_and_horizons.ipynb": ["check_ddim_step", "check_receding_horizon"],
             "07_temporal_unet.ipynb": ["check_film", "check_unet_lengths"],
             "10_why_diffusion.ipynb": ["check_info_nce"],
             "11_design_choices.ipynb": ["check_attention"],
             "12_flow_matching.ipynb": ["check_flow_loss"]}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_hold_the_reference_and_pass_their_checker(path):
    """Each exercise cell keeps a working solution (so nbval runs it), calls its checker, and was stored passing.

    The checkers themselves, on the reference solutions and on plausible wrong ones: tests/test_exercises.py and
    tests/test_exercises_dp.py.
    """
    cells = [c for c in code_cells(path) if EXERCISE_MARK in "".join(c["source"])]
    checkers = [name for c in cells for name in EXERCISES.get(path.name, [])
                if re.search(rf"^(\w+ = )?{name}\(", "".join(c["source"]), re.M)]  # a call, maybe kept as a verdict
    assert checkers == EXERCISES.get(path.name, []), f"{path.name}: exercise cells call {checkers}"
    for cell in cells:
        assert IGNORE not in cell.get("metadata", {}).get("tags", []), f"{path.name}: an exercise's verdict is exact"
        printed = "".join("".join(o.get("data", {}).get("text/plain", o.get("text", ""))) for o in cell["outputs"])
        assert printed.startswith("Correct:"), f"{path.name}: the stored exercise must pass:\n{printed}"
