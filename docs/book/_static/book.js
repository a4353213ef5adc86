// Folded answers (<details>) are raw HTML, where myst leaves $...$ to MathJax, and myst marks the page
// mathjax_ignore: let MathJax into the answers, as JupyterLab does. Deferred and ordered before MathJax (conf.py),
// so it runs on the parsed page before MathJax's first typeset.
document.querySelectorAll("details").forEach(el => el.classList.add("mathjax_process"));
