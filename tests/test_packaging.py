"""Packaging: pyproject.toml and environment.yml name the same packages with the same version bounds; the
metadata a user trusts (licence in the wheel, authors, URLs, the `dpedu` command, the citation) is there."""

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# conda-forge's name -> the name pip knows (conda-forge's pytorch-cpu is torch's CPU build).
CONDA_TO_PIP = {"pytorch-cpu": "torch"}


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements() -> list[str]:
    """pyproject's requirements without environment markers (a marker such as python_version < '3.11' never
    applies to environment.yml's Python 3.11)."""
    reqs = project()["dependencies"] + project()["optional-dependencies"]["dev"]
    return [r for r in reqs if ";" not in r]


def test_environment_yml_matches_pyproject():
    wanted = {r.replace(" ", "").lower() for r in requirements()}
    text = (ROOT / "environment.yml").read_text()
    deps = text[text.index("dependencies:"):]
    listed = {m.group(1).lower() for m in re.finditer(r"^\s+- ([A-Za-z][\w.-]*[<>=!~][^\s#]*)", deps, re.M)}
    listed -= {x for x in listed if x.startswith("python=")}
    listed = {re.sub(r"^[\w.-]+", lambda m: CONDA_TO_PIP.get(m.group(0), m.group(0)), x) for x in listed}
    assert listed == wanted


def test_environment_yml_cannot_pull_a_cuda_torch():
    """torch from conda-forge's CPU build, never from pip (which resolves a CUDA build on a CPU box)."""
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s+- pytorch-cpu>=", text, re.M)
    pip_section = text[text.index("- pip:"):]
    assert not re.search(r"^\s+- (torch|pytorch)\b", pip_section, re.M)


def test_torch_floor_has_fused_adam_on_cpu():
    torch_req = next(r for r in project()["dependencies"] if re.match(r"torch\b", r))
    assert torch_req == "torch>=2.4"


def test_metadata_a_user_trusts():
    meta = project()
    assert meta["requires-python"] == ">=3.11"
    assert meta["authors"] and meta["keywords"] and "License :: OSI Approved :: MIT License" in meta["classifiers"]
    assert {"Diffusion Policy paper", "DDPM paper"} <= set(meta["urls"])
    assert "2303.04137" in meta["urls"]["Diffusion Policy paper"] and "2006.11239" in meta["urls"]["DDPM paper"]
    assert meta["scripts"] == {"dpedu": "dpedu.cli:main"}
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_citation_cites_the_package_and_both_papers():
    text = (ROOT / "CITATION.cff").read_text()
    assert text.startswith("cff-version: 1.2.0") and 'title: "dpedu' in text
    for title, arxiv in (("Diffusion Policy: Visuomotor Policy Learning via Action Diffusion", "2303.04137"),
                         ("Denoising Diffusion Probabilistic Models", "2006.11239")):
        assert title in text and f"arXiv:{arxiv}" in text


def test_the_wheel_carries_the_license_and_the_command(tmp_path):
    """`pip wheel --no-deps .`: LICENSE inside, and the `dpedu` console script in its entry points."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("dpedu-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(re.search(r"\.dist-info/(licenses/)?LICENSE$", n) for n in names), names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "dpedu = dpedu.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    command = ci[-1].strip()
    readme = (ROOT / "README.md").read_text()
    assert command == "python -m pytest"
    assert f'pip install -e ".[dev]" && {command}' in readme


def test_ci_runs_the_notebooks_with_other_float_kernels():
    ci = (ROOT / ".ci" / "run").read_text()
    other_kernels = "ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=AVX2"
    # notebooks 01-07: 08's torch outputs are all trained numbers, which nbval ignores (.ci/run says so)
    assert f"{other_kernels} python -m pytest notebooks/0[1-7]_*.ipynb tests/test_sampler.py" in ci


def test_the_course_opens_after_the_plain_install():
    """README command 1 installs only `.`, then says `jupyter lab notebooks/`: the course's needs are not extras."""
    deps = {re.split(r"[<>=!~\[ ]", r)[0].lower() for r in project()["dependencies"]}
    assert {"jupyterlab", "ipykernel", "ipywidgets", "matplotlib", "torch", "gymnasium"} <= deps


def test_constraints_pin_every_dependency():
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pinned = {line.split("==")[0].lower().replace("_", "-") for line in lines if "==" in line and line[0] != "#"}
    wanted = {re.split(r"[<>=!~\[ ]", r)[0].lower() for r in requirements()}
    assert wanted <= pinned, wanted - pinned
