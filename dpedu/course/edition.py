"""The learner's edition: the course's notebooks with every reference solution taken out.

    dpedu learner-edition OUT_DIR                   # or: python -m dpedu.course.edition OUT_DIR
    jupyter lab OUT_DIR

The notebooks in notebooks/ are the teacher's edition: they hold the solutions, run top to bottom and are what CI
checks under nbval. Their authors mark each solution (docs/course.md, "Writing an exercise"):

    # Hint: schedule.alpha_bars[k] is alpha_bar_k        <- optional; kept, and the stub's message
    ### BEGIN SOLUTION
    ...the reference solution...
    ### END SOLUTION

and fold each try-this answer in markdown as `<details class="solution"><summary>Answer</summary> ... </details>`.
`write_learner_edition` copies every notebook with each marked block replaced by
`raise NotImplementedError("<hint>")` at the BEGIN marker's indentation, each solution fold replaced by one line,
and every output, execution count and saved widget state cleared (the teacher's outputs show the solutions'
results). A checker meeting the stub reports "Not attempted yet" (dpedu.course.exercises.checking), so the
learner's edition also runs top to bottom. Cell ids, tags and other metadata are kept; `<details>` without
class="solution" (the end-of-notebook questions' answers) are kept.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
DEFAULT_HINT = "write this part of the exercise"
FOLDED = "*(The answer is in the teacher's edition.)*"
SOURCE = Path(__file__).resolve().parents[2] / "notebooks"  # the teacher's edition, in a clone of the repository

_SOLUTION_OPEN = re.compile(r"""<details\s+class\s*=\s*["']solution["']\s*>""", re.IGNORECASE)
_DETAILS = re.compile(r"<details\b|</details\s*>", re.IGNORECASE)
# A markdown link or image whose target climbs out of the notebooks' folder: ](../docs/bibliography.md)
_LINK_OUT = re.compile(r"\]\((\.\./[^)\s#]+)(#[^)\s]*)?\)")


def _marker(line: str) -> str | None:
    """"begin" or "end" for a marker line, None for any other; a line that mentions a marker in another form is
    an error (a typo would otherwise leak the solution)."""
    text = line.strip()
    if text == BEGIN:
        return "begin"
    if text == END:
        return "end"
    if "BEGIN SOLUTION" in text or "END SOLUTION" in text:
        raise ValueError(f"a marker must stand alone on its line as `{BEGIN}` or `{END}`, got {text!r}")
    return None


def _hint(line: str) -> str:
    """The stub's message: the text of a `# Hint: ...` line, else the default."""
    text = line.strip()
    if text.startswith("# Hint:"):
        return text[len("# Hint:"):].strip() or DEFAULT_HINT
    return DEFAULT_HINT


def strip_code(source: str) -> str:
    """A code cell's source with each marked solution replaced by a stub raising NotImplementedError(hint)."""
    lines, out, begin = source.split("\n"), [], None
    for number, line in enumerate(lines, start=1):
        kind = _marker(line)
        if kind == "begin":
            if begin is not None:
                raise ValueError(f"`{BEGIN}` on line {number} inside the solution opened on line {begin} "
                                 f"(solutions do not nest)")
            begin = number
            indent = line[: len(line) - len(line.lstrip())]
            hint = _hint(lines[number - 2]) if number > 1 else DEFAULT_HINT
            escaped = hint.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'{indent}raise NotImplementedError("{escaped}")')
        elif kind == "end":
            if begin is None:
                raise ValueError(f"`{END}` on line {number} without a `{BEGIN}` before it")
            begin = None
        elif begin is None:
            out.append(line)
    if begin is not None:
        raise ValueError(f"`{BEGIN}` on line {begin} has no `{END}`")
    return "\n".join(out)


def strip_markdown(source: str) -> str:
    """A markdown cell's source with each `<details class="solution">...</details>` replaced by one line."""
    for number, line in enumerate(source.split("\n"), start=1):
        if _marker(line):
            raise ValueError(f"solution marker on line {number} of a markdown cell: markers belong in code cells; "
                             f'fold a written answer in <details class="solution">')
    while (opened := _SOLUTION_OPEN.search(source)) is not None:
        depth, end = 0, None
        for tag in _DETAILS.finditer(source, opened.start()):
            depth += -1 if tag.group(0).startswith("</") else 1
            if depth == 0:
                end = tag.end()
                break
        if end is None:
            line = source.count("\n", 0, opened.start()) + 1
            raise ValueError(f'<details class="solution"> on line {line} has no closing </details>')
        source = source[: opened.start()] + FOLDED + source[end:]
    return source


def learner_notebook(nb, name: str = "notebook"):
    """A copy of an nbformat notebook as the learner's edition has it; ValueError names the cell of a bad marker."""
    import copy

    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)  # saved widget views: outputs of the teacher's run
    for index, cell in enumerate(nb.cells):
        try:
            if cell.cell_type == "code":
                cell.source = strip_code(cell.source)
                cell.outputs, cell.execution_count = [], None
            elif cell.cell_type == "markdown":
                cell.source = strip_markdown(cell.source)
        except ValueError as e:
            raise ValueError(f"{name}, cell {index} ({cell.cell_type}): {e}") from None
    return nb


def _check_folders(src_dir: Path, out_dir: Path) -> None:
    if not src_dir.is_dir():
        raise FileNotFoundError(f"no folder of notebooks at {src_dir}: give the teacher's edition with --notebooks SRC")
    if not any(src_dir.glob("*.ipynb")):
        raise FileNotFoundError(f"{src_dir} holds no .ipynb notebook")
    src, out = src_dir.resolve(), out_dir.resolve()
    if out == src or src in out.parents:
        where = f"is the teacher's edition itself ({src_dir})" if out == src else f"is inside {src_dir}"
        raise ValueError(f"{out_dir} {where}: write the learner's edition elsewhere, or it would replace the "
                         f"solutions (or be run by `pytest --nbval` beside them)")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out_dir} exists and is not a folder")


def write_learner_edition(src_dir: str | Path | None, out_dir: str | Path) -> list[Path]:
    """Write the learner's edition of every notebook in src_dir (None: the repository's notebooks/) into out_dir;
    returns the paths written.

    Besides the notebooks: every other file in src_dir (not hidden), and every file a markdown link reaches with
    `../` (the course's bibliography), copied under out_dir with the link rewritten, so the folder works on its
    own when zipped. Running it again writes the same files.
    """
    import nbformat

    src_dir, out_dir = Path(SOURCE if src_dir is None else src_dir), Path(out_dir)
    _check_folders(src_dir, out_dir)
    editions = {}
    for path in sorted(src_dir.glob("*.ipynb")):  # every notebook checked before anything is written
        editions[path.name] = learner_notebook(nbformat.read(path, as_version=4), path.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, linked = [], set()
    for name, nb in editions.items():
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = _LINK_OUT.sub(lambda m: _relink(m, src_dir, linked), cell.source)
        nbformat.validate(nb)
        target = out_dir / name
        target.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        written.append(target)
    beside = [p for p in sorted(src_dir.rglob("*")) if p.is_file() and p.suffix != ".ipynb"
              and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(src_dir).parts)]
    for path in beside:
        written.append(_copy(path, out_dir / path.relative_to(src_dir)))
    for rel in sorted(linked):
        written.append(_copy(src_dir.parent / rel, out_dir / rel))
    return written


def _relink(match: re.Match, src_dir: Path, linked: set[str]) -> str:
    """](../docs/x.md) -> ](docs/x.md), remembering docs/x.md to copy; a link to nothing is left as it is."""
    target = (src_dir / match.group(1)).resolve()
    root = src_dir.resolve().parent
    if not target.is_file() or root not in target.parents:
        return match.group(0)
    rel = target.relative_to(root).as_posix()
    linked.add(rel)
    return f"]({rel}{match.group(2) or ''})"


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments, shared by `dpedu learner-edition` and `python -m dpedu.course.edition`."""
    parser.add_argument("out_dir", metavar="OUT_DIR", help="the folder to write the learner's edition into "
                                                           "(created; files of the same name are replaced)")
    parser.add_argument("--notebooks", default=None, metavar="SRC",
                        help="the teacher's edition: a folder of notebooks with solution markers (default: this "
                             "repository's notebooks/)")


def run(args, parser: argparse.ArgumentParser) -> int:
    """Write the edition, print what was written and how to open it; a bad folder or marker is a usage error."""
    try:
        written = write_learner_edition(args.notebooks, args.out_dir)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    for path in written:
        print(f"wrote {path}")
    n = sum(path.suffix == ".ipynb" for path in written)
    print(f"the learner's edition: {n} notebook{'s' * (n != 1)} in {args.out_dir}; open it with\n"
          f"  jupyter lab {args.out_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dpedu.course.edition", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv), parser)


if __name__ == "__main__":
    sys.exit(main())
