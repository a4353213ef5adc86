"""pyproject.toml and environment.yml name the same packages with the same version bounds."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {r.replace(" ", "").lower() for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    text = (ROOT / "environment.yml").read_text()
    deps = text[text.index("dependencies:"):]
    listed = {m.group(1).lower() for m in re.finditer(r"^\s+- ([A-Za-z][\w.-]*[<>=!~][^\s#]*)", deps, re.M)}
    listed -= {x for x in listed if x.startswith("python=")}
    assert listed == wanted


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    command = ci[-1].strip()
    readme = (ROOT / "README.md").read_text()
    assert command == "python -m pytest"
    assert f'pip install -e ".[dev]" && {command}' in readme


def test_ci_runs_the_notebooks_with_other_float_kernels():
    ci = (ROOT / ".ci" / "run").read_text()
    other_kernels = "ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=AVX2"
    assert f"{other_kernels} python -m pytest notebooks tests/test_sampler.py" in ci


def test_the_course_opens_after_the_plain_install():
    """README command 1 installs only `.`, then says `jupyter lab notebooks/`: the course's needs are not extras."""
    deps = {re.split(r"[<>=!~\[ ]", r)[0].lower() for r in tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "project"]["dependencies"]}
    assert {"jupyterlab", "ipykernel", "ipywidgets", "matplotlib", "torch", "gymnasium"} <= deps


def test_constraints_pin_every_dependency():
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pinned = {line.split("==")[0].lower().replace("_", "-") for line in lines if "==" in line and line[0] != "#"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    wanted = {re.split(r"[<>=!~\[ ]", r)[0].lower() for r in requirements}
    assert wanted <= pinned, wanted - pinned
