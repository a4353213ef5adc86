"""Sphinx configuration of the course book: the notebooks, read from their stored outputs, as a static site.

Built from the repository root so that notebooks/ and docs/ are read in place (nothing is copied):

    python -m dpedu.course.book OUT          # = sphinx-build -W --keep-going -c docs/book . OUT  (about 10 s)

then open OUT/index.html. Sphinx + myst-nb + sphinx-book-theme (what Jupyter Book 1 wraps; pip only, no Node.js).
The notebooks are not executed (`nb_execution_mode = "off"`): the book shows the outputs nbval checks. MathJax is
served from the book itself (sphinx-mathjax-offline), so the book reads offline; no page loads anything from
another host.
"""

from __future__ import annotations

from pathlib import Path

import sphinx

ROOT = Path(__file__).resolve().parents[2]

project = "dpedu: Diffusion Policy, taught"
author = "The dpedu authors"
copyright = "the dpedu authors, MIT licence"

# Only the book's pages are read from the repository root.
root_doc = "docs/book/index"
include_patterns = ["docs/book/index.md", "notebooks/[0-9][0-9]_*.ipynb", "docs/*.md", "README.md"]
exclude_patterns = ["**/.ipynb_checkpoints", ".venv", "build", "book", "runs"]  # book/: the README's output folder

extensions = ["myst_nb", "sphinx-mathjax-offline"]

# myst: $...$ and $$...$$ in markdown cells, amsmath environments, <details> blocks kept as HTML.
myst_enable_extensions = ["dollarmath", "amsmath", "html_image", "colon_fence"]
myst_heading_anchors = 3          # [text](#a-heading) and [text](page.md#a-heading) resolve
# Math in raw HTML (a one-line <details> answer) is left to MathJax with the delimiters JupyterLab accepts
# (_static/book.js lets MathJax into <details>), so a cell reads the same in the book as in JupyterLab; myst adds its
# processHtmlClass to this. The book's MathJax is
# sphinx-mathjax-offline's 3.2.2 (its options read the same); Sphinx 9 names the setting mathjax4_config.
_MATHJAX = {"tex": {"inlineMath": [["\\(", "\\)"], ["$", "$"]], "displayMath": [["\\[", "\\]"], ["$$", "$$"]]}}
if sphinx.version_info >= (9,):
    mathjax4_config = _MATHJAX
else:
    mathjax3_config = _MATHJAX
nb_execution_mode = "off"         # render the stored outputs; never run a notebook
nb_ipywidgets_js = {}             # no widget manager from a CDN: widgets need a kernel (the book says where)
nb_merge_streams = True

html_theme = "sphinx_book_theme"
html_title = "dpedu: Diffusion Policy, taught"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "home_page_in_toc": True,
}
# Light by default: the figures are drawn on white (and an unset mode makes the theme log a console error).
html_context = {"default_mode": "light"}
html_favicon = "_static/favicon.svg"  # without one, browsers ask for /favicon.ico and log a 404
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_js_files = [("book.js", {"defer": "defer", "priority": 100})]  # before MathJax (priority 500)
html_show_sourcelink = False
html_copy_source = True   # the download button offers each page's source (a notebook: its .ipynb)
html_last_updated_fmt = None

# Broken internal references are errors (sphinx-build -W); external links are not fetched.
nitpicky = False
suppress_warnings: list[str] = []


def _redirect_index(app, exc) -> None:
    """The site's front door: OUT/index.html forwards to the book's first page (docs/book/index.html)."""
    if exc is not None or app.builder.format != "html":
        return
    (Path(app.outdir) / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>dpedu</title>\n'
        '<meta http-equiv="refresh" content="0; url=docs/book/index.html"></head>\n'
        '<body><a href="docs/book/index.html">dpedu: Diffusion Policy, taught</a></body></html>\n')


def _outputs_inside_the_build(app) -> None:
    """myst-nb writes the notebooks' images to OUT/../jupyter_execute (next to the build, in the repository when
    OUT is ./book); move that folder into the build's doctree folder, OUT/.doctrees. Runs after myst-nb's own
    builder-inited handler (priority 900 > 500); execution is off, so its cache path is never used."""
    config = app.env.mystnb_config
    app.env.mystnb_config = config.copy(output_folder=str(Path(app.doctreedir).resolve() / "jupyter_execute"))


def setup(app):
    app.connect("builder-inited", _outputs_inside_the_build, priority=900)
    app.connect("build-finished", _redirect_index)
