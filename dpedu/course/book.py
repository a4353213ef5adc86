"""Build the course as a book: a static HTML site of the notebooks, read from their stored outputs.

    python -m dpedu.course.book OUT       # then open OUT/index.html (about 10 s; nothing is executed)

The same as `sphinx-build -W --keep-going -c docs/book . OUT` run from the repository root: Sphinx with myst-nb
and sphinx-book-theme reads notebooks/ and docs/ in place (docs/book/conf.py lists the pages), and any warning
(a broken internal link, a missing image, a notebook that does not parse) fails the build. Needs a clone of the
repository (docs/book/ is not installed with the package) and the dev dependencies (`pip install -e ".[dev]"`).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "docs" / "book"


def build(out: str | Path, quiet: bool = True) -> int:
    """Build the book into `out`; return sphinx-build's exit status (0: built with no warning)."""
    if not (CONF_DIR / "conf.py").exists():
        raise FileNotFoundError(f"{CONF_DIR / 'conf.py'} is missing: build the book from a clone of the repository")
    from sphinx.cmd.build import build_main

    args = ["-W", "--keep-going", "-b", "html", "-c", str(CONF_DIR), str(ROOT), str(out)]
    return build_main(args + (["-q"] if quiet else []))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    status = build(argv[0], quiet=False)
    if status == 0:
        print(f"The book: {Path(argv[0]).resolve() / 'index.html'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
