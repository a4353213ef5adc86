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
