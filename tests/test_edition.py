"""The learner's edition (dpedu/course/edition.py, `dpedu learner-edition`): each marked solution becomes a stub
that raises NotImplementedError with its hint, each folded try-this answer goes, outputs are cleared, bad markers
are refused naming the cell; on the course's own notebooks no solution line leaks, and the edition runs top to
bottom with every checker saying "Not attempted yet".

DPEDU_TEACHER_NOTEBOOKS=DIR points the tests on the real notebooks at another teacher's edition (a scratch copy)."""

import os
import re
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from dpedu.cli import main
from dpedu.course.edition import BEGIN, END, FOLDED, learner_notebook, write_learner_edition

ROOT = Path(__file__).resolve().parents[1]
TEACHER = Path(os.environ.get("DPEDU_TEACHER_NOTEBOOKS", ROOT / "notebooks"))
NOT_ATTEMPTED = "Not attempted yet"


def notebook(*cells: tuple[str, str], **cell_metadata):
    """A small notebook from (cell_type, source) pairs; code cells carry a stored output and execution count."""
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        if kind == "code":
            cell = nbformat.v4.new_code_cell(source, execution_count=3, metadata=dict(cell_metadata),
                                             outputs=[nbformat.v4.new_output("stream", text="the solution's result")])
        else:
            cell = nbformat.v4.new_markdown_cell(source)
        nb.cells.append(cell)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


EXERCISE = """def add_noise(schedule, x0, k, eps):
    alpha_bar = schedule.alpha_bars[k]
    if True:
        # Hint: sqrt(alpha_bar_k) x^0 + ..., "quoted" \\ too
        ### BEGIN SOLUTION
        secret_line = alpha_bar.sqrt() * x0
        return secret_line + (1 - alpha_bar).sqrt() * eps
        ### END SOLUTION


def second(x):
    ### BEGIN SOLUTION
    return x + 1
    ### END SOLUTION


check_add_noise(add_noise)"""


def test_a_solution_becomes_a_stub_at_its_indentation_with_its_hint():
    nb = learner_notebook(notebook(("code", EXERCISE)), "toy.ipynb")
    lines = nb.cells[0].source.split("\n")
    hint = '        # Hint: sqrt(alpha_bar_k) x^0 + ..., "quoted" \\ too'
    stub = '        raise NotImplementedError("sqrt(alpha_bar_k) x^0 + ..., \\"quoted\\" \\\\ too")'
    assert lines[3:5] == [hint, stub]
    assert '    raise NotImplementedError("write this part of the exercise")' in lines  # no hint: the default
    assert "secret_line" not in nb.cells[0].source and "x + 1" not in nb.cells[0].source
    assert BEGIN not in nb.cells[0].source and END not in nb.cells[0].source
    assert lines[-1] == "check_add_noise(add_noise)"
    # The stub is Python that raises the hint when the learner's function runs.
    namespace = {}
    exec(compile(nb.cells[0].source.replace("check_add_noise(add_noise)", ""), "cell", "exec"), namespace)
    with pytest.raises(NotImplementedError, match=r'x\^0 \+ \.\.\., "quoted" \\ too'):
        namespace["add_noise"](SimpleNamespace(alpha_bars=[1.0]), None, 0, None)


def test_outputs_cleared_ids_and_metadata_kept_and_the_teacher_untouched():
    teacher = notebook(("code", "x = 1"), ("markdown", "text"),
                       jupyter={"source_hidden": True}, tags=["nbval-ignore-output"])
    nb = learner_notebook(teacher)
    code = nb.cells[0]
    assert code.outputs == [] and code.execution_count is None and code.source == "x = 1"
    assert code.metadata == {"jupyter": {"source_hidden": True}, "tags": ["nbval-ignore-output"]}
    assert [c.id for c in nb.cells] == [c.id for c in teacher.cells]
    assert "widgets" not in nb.metadata and "widgets" in teacher.metadata  # a copy: the teacher's keeps its own
    assert teacher.cells[0].outputs and teacher.cells[0].execution_count == 3


def test_solution_folds_go_and_question_answers_stay():
    source = ("Try n_action_steps = 1.\n"
              '<details class="solution"><summary>Answer</summary>\n\nMeasured: -420.8 and <details>nested</details>'
              "\n</details>\n\nThen:\n<details class='solution'>x</details> and after.\n\n"
              "## Questions\n<details><summary>Answer</summary>kept for self-study</details>")
    nb = learner_notebook(notebook(("markdown", source)))
    text = nb.cells[0].source
    assert "-420.8" not in text and "nested" not in text and ">x<" not in text
    assert text.count(FOLDED) == 2 and text.startswith("Try n_action_steps = 1.\n" + FOLDED)
    assert f"Then:\n{FOLDED} and after." in text
    assert text.endswith("<details><summary>Answer</summary>kept for self-study</details>")


@pytest.mark.parametrize("cells, problem", [
    ([("code", "x = 1"), ("code", f"{BEGIN}\nx = 2\n")], f"cell 1 (code): `{BEGIN}` on line 1 has no `{END}`"),
    ([("code", f"{BEGIN}\n{BEGIN}\nx\n{END}\n{END}")], f"cell 0 (code): `{BEGIN}` on line 2 inside the solution"),
    ([("markdown", "m"), ("markdown", "m"), ("code", f"x\n{END}")], f"cell 2 (code): `{END}` on line 2 without"),
    ([("markdown", f"Intro\n{BEGIN}\nx\n{END}")], "cell 0 (markdown): solution marker on line 2 of a markdown cell"),
    ([("code", "### BEGIN SOLUTION here\nx\n### END SOLUTION")], "cell 0 (code): a marker must stand alone"),
    ([("markdown", '<details class="solution">never closed')], "cell 0 (markdown): <details class=\"solution\"> on "
                                                               "line 1 has no closing"),
])
def test_bad_markers_name_the_notebook_the_cell_and_the_problem(cells, problem):
    with pytest.raises(ValueError, match=re.escape(f"bad.ipynb, {problem}")):
        learner_notebook(notebook(*cells), "bad.ipynb")


def write_teacher(folder: Path) -> Path:
    folder.mkdir()
    nbformat.write(notebook(("code", EXERCISE), ("markdown", "See the [bibliography](../docs/bib.md#ho).")),
                   folder / "01_toy.ipynb")
    (folder / "data.csv").write_text("1,2\n")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "01_toy-checkpoint.ipynb").write_text("{}")
    (folder.parent / "docs").mkdir()
    (folder.parent / "docs" / "bib.md").write_text("# Bibliography\n")
    return folder


def test_the_command_writes_the_edition_and_says_how_to_open_it(tmp_path, capsys):
    teacher, out = write_teacher(tmp_path / "notebooks"), tmp_path / "class" / "learner"
    before = (teacher / "01_toy.ipynb").read_bytes()
    assert main(["learner-edition", str(out), "--notebooks", str(teacher)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / '01_toy.ipynb'}" in printed and f"jupyter lab {out}" in printed
    # The notebooks, the files beside them (no checkpoints) and the files their ../ links reach, linked anew.
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "01_toy.ipynb", "data.csv", "docs/bib.md"]
    nb = nbformat.read(out / "01_toy.ipynb", as_version=4)
    assert "secret_line" not in nb.cells[0].source and nb.cells[1].source == "See the [bibliography](docs/bib.md#ho)."
    assert (teacher / "01_toy.ipynb").read_bytes() == before
    first = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert write_learner_edition(teacher, out)  # idempotent: the same bytes again
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == first
    assert write_learner_edition(out, tmp_path / "again")  # the learner's edition is its own fixed point
    assert (tmp_path / "again" / "01_toy.ipynb").read_bytes() == first[out / "01_toy.ipynb"]


@pytest.mark.parametrize("out, message", [
    ("{teacher}", "is the teacher's edition itself"),
    ("{teacher}/learner", "is inside"),
    ("{tmp}/file.txt", "exists and is not a folder"),
])
def test_the_command_refuses_to_write_over_the_teacher(out, message, tmp_path, capsys):
    teacher = write_teacher(tmp_path / "notebooks")
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(SystemExit) as exit_:
        main(["learner-edition", out.format(teacher=teacher, tmp=tmp_path), "--notebooks", str(teacher)])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (teacher / "learner").exists()


def test_a_bad_marker_writes_nothing(tmp_path, capsys):
    teacher = write_teacher(tmp_path / "notebooks")
    nbformat.write(notebook(("code", f"{BEGIN}\nx = 1")), teacher / "02_bad.ipynb")
    with pytest.raises(SystemExit):
        main(["learner-edition", str(tmp_path / "out"), "--notebooks", str(teacher)])
    assert "02_bad.ipynb, cell 0 (code)" in capsys.readouterr().err and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- the course's own notebooks


def teacher_notebooks() -> list[Path]:
    return sorted(TEACHER.glob("*.ipynb"))


def solution_lines(nb) -> set[str]:
    """Every non-blank, non-comment line inside a marked solution of the teacher's edition, stripped."""
    found = set()
    for cell in nb.cells:
        inside = False
        for line in cell.source.split("\n") if cell.cell_type == "code" else ():
            text = line.strip()
            if text in (BEGIN, END):
                inside = text == BEGIN
            elif inside and text and not text.startswith("#"):
                found.add(text)
    return found


def has_solution(nb) -> bool:
    return any(cell.cell_type == "code" and BEGIN in cell.source for cell in nb.cells)


MARKED = [p for p in teacher_notebooks() if has_solution(nbformat.read(p, as_version=4))]


def test_the_course_carries_solution_markers():
    """The tests below run over MARKED: if the markers disappeared, they would pass by testing nothing."""
    assert len(MARKED) >= 4, f"notebooks with ### BEGIN SOLUTION in {TEACHER}: {[p.name for p in MARKED]}"


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("learner")
    write_learner_edition(TEACHER, out)
    return out


@pytest.mark.parametrize("path", MARKED, ids=lambda p: p.stem)
def test_no_solution_leaks_into_the_learners_edition(path, edition):
    teacher = nbformat.read(path, as_version=4)
    learner = nbformat.read(edition / path.name, as_version=4)
    code = "\n".join(cell.source for cell in learner.cells if cell.cell_type == "code")
    code_lines = {line.strip() for line in code.split("\n")}
    leaked = sorted(solution_lines(teacher) & code_lines)
    assert not leaked, f"{path.name}: solution lines in the learner's edition: {leaked}"
    assert not re.search(r"<details\s+class\s*=\s*[\"']solution", "\n".join(c.source for c in learner.cells))
    assert all(not cell.get("outputs") for cell in learner.cells)
    # Each solution is followed by a checker: the learner is told whether the answer is right.
    sources = [cell.source for cell in teacher.cells]
    last_solution = max(i for i, s in enumerate(sources) if BEGIN in s)
    after = "\n".join(s[s.index(BEGIN):] if i == last_solution else s for i, s in enumerate(sources)
                      if i >= last_solution)
    assert re.search(r"\bcheck_\w+\(", after), f"{path.name}: no check_...( call after its last solution"


def learner_functions(nb) -> set[str]:
    """The functions the learner writes: those defined in a cell of the teacher's edition that holds a solution."""
    return {name for cell in nb.cells if cell.cell_type == "code" and BEGIN in cell.source
            for name in re.findall(r"^\s*def (\w+)\(", cell.source, re.M)}


def output_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.extend(str(v) for k, v in output.get("data", {}).items() if k.startswith("text/"))
    return "".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("path", MARKED, ids=lambda p: p.stem)
def test_the_learners_edition_runs_and_every_checker_says_not_attempted(path, edition):
    """Top to bottom in a fresh kernel, in the edition's folder: no cell fails, and every cell (but the hidden
    Checks cell) that checks a function the learner writes says "Not attempted yet"."""
    from nbclient import NotebookClient

    teacher = nbformat.read(path, as_version=4)
    nb = nbformat.read(edition / path.name, as_version=4)
    # The kernel imports this checkout's dpedu, whatever the environment's editable install points at.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(edition)}}).execute(
        env=env)
    names = learner_functions(teacher)
    calls = re.compile(r"\bcheck_\w+\(\s*(?:" + "|".join(map(re.escape, names)) + r")\b") if names else None
    checked = [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and calls
               and calls.search(cell.source) and not cell.metadata.get("jupyter", {}).get("source_hidden")]
    assert checked, f"{path.name}: no cell checks the functions the learner writes ({sorted(names)})"
    for i, cell in checked:
        assert NOT_ATTEMPTED in output_text(cell), f"{path.name}, cell {i}: printed {output_text(cell)[:300]!r}"
