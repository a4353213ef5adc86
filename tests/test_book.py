"""The course book (docs/book/, `python -m dpedu.course.book OUT`), built and read in headless Chromium.

Builds the book from the stored notebooks into a temporary directory (sphinx-build -W: a broken internal
reference or a missing image fails the build), serves it with http.server on 127.0.0.1 and opens every HTML page
in headless Chromium (Playwright). Each page must: answer 200; log no console error and throw no page error;
request nothing from another host (the book reads offline: MathJax is served from the book itself); have its math
typeset (every Sphinx math element holds a MathJax mjx-container, no raw "$$" or "\\(" left in the text outside
code); load every <img> (naturalWidth > 0; a notebook page shows at least as many images as its notebook stores
image outputs); and every link to the book itself must reach an existing file, and its #anchor an element on
that page. External links are collected and listed (in the assertion message of the summary and in
$DPEDU_BOOK_LINKS when set), never fetched.

    python -m pytest tests/test_book.py -o addopts="" -q      # ~10 s to build, ~40 s to check 21 pages, 2 cores

Needs the dev dependencies (sphinx, myst-nb, sphinx-book-theme, sphinx-mathjax-offline, playwright) and
Chromium at /usr/bin/chromium (Debian package `chromium`; Playwright never downloads a browser). Without them the
test is skipped, or fails when $CI is set (CI must run it).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
from chromium import importable, require

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BUILD_TIMEOUT_S = 300
IMAGE_MIMES = ("image/png", "image/gif", "image/jpeg", "image/svg+xml")

# Runs in the page once MathJax (if the page loads it) has typeset: what the checks need, in one round trip.
PAGE_FACTS_JS = r"""async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  // Images below the fold may be lazy: load them all before measuring.
  const imgs = Array.from(document.images);
  imgs.forEach(img => { img.loading = "eager"; });
  await Promise.all(imgs.map(img => img.complete ? null
      : new Promise(done => { img.onload = img.onerror = done; setTimeout(done, 10000); })));
  const math = Array.from(document.querySelectorAll("span.math, div.math"));
  const text = document.querySelector("main, article, body").cloneNode(true);
  text.querySelectorAll("pre, code, script, style, mjx-container, .highlight").forEach(el => el.remove());
  return {
    mathjax_loaded: !!window.MathJax,
    math: math.length,
    math_untypeset: math.filter(el => !el.querySelector("mjx-container"))
                        .map(el => el.textContent.slice(0, 80)),
    mjx: document.querySelectorAll("mjx-container").length,
    // Math MathJax never saw (raw HTML, a typo): TeX delimiters or commands left in the prose.
    raw_math: (text.textContent.match(new RegExp(String.raw`\$\$|\\[(\[]|\$[^\s$][^$\n]{0,200}?\$|`
                                                 + String.raw`\\(bar|alpha|beta|sqrt|epsilon|mathcal|frac|mid)\b`, "g"))
               || [])
              .slice(0, 5),
    images: imgs.map(img => ({src: img.currentSrc || img.src, w: img.naturalWidth,
                              output: !!img.closest(".cell_output")})),
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
    ids: Array.from(document.querySelectorAll("[id], a[name]")).map(el => el.id || el.getAttribute("name")),
  };
}"""




def stored_images(path: Path) -> int:
    """How many image outputs the notebook stores (each must show in the book)."""
    cells = json.loads(path.read_text())["cells"]
    return sum(any(m in out.get("data", {}) for m in IMAGE_MIMES)
               for cell in cells for out in cell.get("outputs", []))


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> dict:
    """The book built by its one command into a temporary directory; with the build's duration."""
    for module in ("sphinx", "myst_nb", "sphinx_book_theme"):
        require(importable(module), f"{module} is not installed (pip install -e \".[dev]\")")
    out = tmp_path_factory.mktemp("book") / "html"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "dpedu.course.book", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=BUILD_TIMEOUT_S)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, f"the book did not build (warnings are errors):\n{proc.stdout[-3000:]}\n" \
                                 f"{proc.stderr[-5000:]}"
    return {"out": out, "build_s": seconds}


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """http.server on 127.0.0.1 (a free port) serving `directory`, in a thread; yields its URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join(10)




def pages_of(out: Path) -> list[str]:
    """Every HTML page of the book, as paths relative to its root (the theme's assets excluded)."""
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")
                  if not p.relative_to(out).parts[0].startswith("_"))


def redirect_target(out: Path, rel: str) -> str | None:
    """Where a meta-refresh page (the site's index.html) forwards to, relative to the site's root."""
    m = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', (out / rel).read_text())
    return (Path(rel).parent / m.group(1)).as_posix() if m else None


def read_page(context, base: str, rel: str, forwards_to: str | None = None) -> dict:
    """Open one page; return its facts plus the console errors it produced (after its redirect, if any)."""
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url} ({req.failure})"))
    try:
        response = page.goto(f"{base}/{rel}", wait_until="load", timeout=60_000)
        if forwards_to:
            page.wait_for_url(f"{base}/{forwards_to}", wait_until="load", timeout=30_000)
        facts = page.evaluate(PAGE_FACTS_JS)
        facts["status"] = response.status if response else None
        page.wait_for_timeout(100)  # let late console messages arrive
        facts["errors"] = errors
        return facts
    finally:
        page.close()


def test_book_builds_and_every_page_reads(book, browser):
    out = book["out"]
    pages = pages_of(out)
    names = {p.stem for p in NOTEBOOKS}
    assert {f"notebooks/{n}.html" for n in names} <= set(pages), f"a notebook is missing from the book: {pages}"
    assert {"index.html", "docs/book/index.html", "docs/bibliography.html", "docs/notation.html"} <= set(pages)

    start = time.monotonic()
    problems: list[str] = []
    facts_of: dict[str, dict] = {}
    off_host: list[str] = []
    with serve(out) as base:
        host = urlsplit(base).netloc
        context = browser.new_context()

        def route(r) -> None:  # the book must read offline: nothing from another host
            if urlsplit(r.request.url).netloc == host or r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                off_host.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        try:
            for rel in pages:
                forwards_to = redirect_target(out, rel)
                if forwards_to and not (out / forwards_to).is_file():
                    problems.append(f"{rel}: forwards to {forwards_to}, which does not exist")
                    continue
                facts_of[rel] = read_page(context, base, rel, forwards_to)
        finally:
            context.close()

    external: set[str] = set()
    for rel, facts in facts_of.items():
        if facts["status"] != 200:
            problems.append(f"{rel}: HTTP {facts['status']}")
        problems += [f"{rel}: {e}" for e in facts["errors"]]
        if facts["math"]:
            if not facts["mathjax_loaded"]:
                problems.append(f"{rel}: {facts['math']} math elements but MathJax is not loaded")
            if facts["math_untypeset"]:
                problems.append(f"{rel}: math not typeset by MathJax: {facts['math_untypeset'][:3]}")
        if facts["raw_math"]:
            problems.append(f"{rel}: raw math delimiters {facts['raw_math']} left in the text")
        for img in facts["images"]:
            if img["w"] <= 0:
                problems.append(f"{rel}: image did not load: {img['src']}")
        if rel.startswith("notebooks/"):
            wanted = stored_images(ROOT / "notebooks" / (Path(rel).stem + ".ipynb"))
            shown = sum(img["output"] and img["w"] > 0 for img in facts["images"])
            if shown < wanted:
                problems.append(f"{rel}: shows {shown} output images, its notebook stores {wanted}")
        for link in facts["links"]:
            url, fragment = urldefrag(link)
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or parts.netloc != host:
                if parts.scheme not in ("javascript",):
                    external.add(link)
                continue
            target_rel = unquote(parts.path).lstrip("/")
            target = out / target_rel
            if target.is_dir():
                target, target_rel = target / "index.html", (target_rel.rstrip("/") + "/index.html").lstrip("/")
            if not target.is_file():
                problems.append(f"{rel}: broken link {link} (no file {target_rel})")
            elif fragment and target_rel in facts_of and unquote(fragment) not in facts_of[target_rel]["ids"]:
                problems.append(f"{rel}: broken anchor {link} (no id {unquote(fragment)!r} on {target_rel})")
    problems += [f"requested from another host (blocked): {u}" for u in sorted(set(off_host))]
    check_s = time.monotonic() - start

    math_pages = sum(bool(f["math"]) for f in facts_of.values())
    images = sum(len(f["images"]) for f in facts_of.values())
    summary = (f"book: {len(pages)} pages, built in {book['build_s']:.1f} s, checked in {check_s:.1f} s; "
               f"{math_pages} pages with math ({sum(f['mjx'] for f in facts_of.values())} formulas typeset), "
               f"{images} images; {len(external)} external links listed, not fetched")
    if os.environ.get("DPEDU_BOOK_LINKS"):
        Path(os.environ["DPEDU_BOOK_LINKS"]).write_text("\n".join(sorted(external)) + "\n")
    print(summary)
    assert not problems, f"{summary}\n" + "\n".join(problems[:60])
    assert math_pages >= 1, f"no page has math: is dollarmath on? {summary}"
