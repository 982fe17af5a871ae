"""The chapters in the browser: the JupyterLite part of the site (``tools/sphinxext/lite.py``).

``make book`` writes a JupyterLite site to ``_build/html/lite`` with one notebook per notebook
chapter and the wheels its kernel installs (``tools/lite/build_wheels.py``). These tests check
what can be checked without the network:

- the lite site: built, small (no source maps, no Pyodide), every chapter in its contents, with
  the chapter's cells unchanged after one ``%pip install`` cell;
- the "Try it in your browser" link on every chapter page, and that no page outside ``lite/``
  refers to another host or to the lite app in anything it loads by itself;
- the wheels: ``kdeloss`` is pure Python, built from the current sources, needs only packages
  that Pyodide ships, installs with plain pip and imports; and (when a Python >= 3.13 is on the
  PATH for micropip) micropip, through JupyterLite's piplite with PyPI turned off, installs
  exactly the notebooks' first cell from the site's own indexes;
- Pyodide's limits: the chapters and ``kdeloss`` import only what Pyodide has, and ``kdeloss``
  (``loss_and_grad`` with every method, every demo frame and widget) works when no thread can
  be started, loading no C extension beyond NumPy, SciPy and Matplotlib.

A run in a real browser needs Pyodide from its CDN, so it is not here: see the README.
Without the built site the site checks skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urljoin, urlparse

import jupytext
import nbformat
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
LITE = SITE / "lite"
SRC = ROOT / "src" / "kdeloss"
sys.path.insert(0, str(ROOT / "tools" / "sphinxext"))
import lite as ext  # noqa: E402  (tools/sphinxext/lite.py: the names and notebooks it makes)

#: the lite site may not grow past this (it was 21.5 MB with every app when it was added)
MAX_LITE_BYTES = 30_000_000
#: distributions that Pyodide's own distribution provides (numpy, scipy, sympy, matplotlib and
#: what they need) or that the Pyodide kernel installs before the first cell runs
PYODIDE_DISTS = {
    "numpy", "scipy", "sympy", "mpmath", "matplotlib", "pillow", "kiwisolver", "contourpy",
    "cycler", "fonttools", "packaging", "pyparsing", "python-dateutil", "six",
    "ipython", "comm", "traitlets", "typing-extensions",
}  # fmt: skip
#: wheels the Pyodide kernel serves from its own index (shims of ipykernel and widgetsnbextension)
KERNEL_WHEELS = {"ipykernel", "piplite", "pyodide-kernel", "widgetsnbextension"}
#: wheels the lite site ships itself (tools/lite/build_wheels.py)
SHIPPED = {"kdeloss", "kdeloss-lite", "ipywidgets", "jupyterlab-widgets", "anywidget", "psygnal"}
#: top-level modules a chapter or kdeloss may import, beyond the standard library
#: (myst_nb is the kdeloss-lite stand-in in the browser)
PYODIDE_IMPORTS = {
    "numpy", "scipy", "sympy", "mpmath", "matplotlib", "PIL", "IPython", "ipywidgets",
    "kdeloss", "myst_nb", "anywidget", "traitlets",
}  # fmt: skip
#: packages whose C extensions may be loaded (Matplotlib's compiled dependencies included)
#: (psygnal, anywidget's dependency, is compiled here; the lite site ships its pure wheel)
C_EXTENSIONS_OK = {"numpy", "scipy", "matplotlib", "PIL", "kiwisolver", "contourpy", "psygnal"}
NO_THREADS_IN_CHAPTERS = {"threading", "_thread", "concurrent", "multiprocessing", "subprocess"}
MICROPIP = "micropip==0.11.1"


# ---------------------------------------------------------------------------------------------
# the chapters (the same walk over _toc.yml as tests/test_notebooks.py)


def _toc_docnames() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                found.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk([{k: v for k, v in toc.items() if k in ("parts", "chapters")}])
    return found


def _source(docname: str) -> Path | None:
    for suffix in (".md", ".ipynb"):
        if (ROOT / f"{docname}{suffix}").exists():
            return ROOT / f"{docname}{suffix}"
    return None  # tests/test_notebooks.py reports a page listed in _toc.yml but missing


NOTEBOOKS = [
    d for d in _toc_docnames() if (src := _source(d)) is not None and ext._is_notebook(src)
]


def _lite_paths() -> dict[str, str]:
    """``{docname: notebook path in the lite contents}``, as tools/sphinxext/lite.py names them."""
    dirs = [os.path.dirname(d) for d in NOTEBOOKS]
    common = os.path.commonpath(dirs) if dirs else ""
    return {d: os.path.relpath(d, common or ".") + ".ipynb" for d in NOTEBOOKS}


def _require_site() -> None:
    if not (LITE / "jupyter-lite.json").is_file():
        msg = f"the lite site ({LITE}) is not built: run `make book` first"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


# ---------------------------------------------------------------------------------------------
# the lite site


def test_the_lite_site_is_built_small_and_without_pyodide() -> None:
    _require_site()
    assert (LITE / ext.APP / "index.html").is_file()
    config = json.loads((LITE / "jupyter-lite.json").read_text())["jupyter-config-data"]
    names = sorted(e["name"] for e in config["federated_extensions"])
    assert names == sorted(ext.LAB_EXTENSIONS), "only the kernel, widget manager and anywidget"
    settings = config["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    assert any(u.startswith("./pypi/all.json") for u in settings["pipliteUrls"])
    assert "pyodideUrl" not in settings or settings["pyodideUrl"].startswith("https://")
    maps = [str(p.relative_to(LITE)) for p in LITE.rglob("*.map")]
    assert maps == [], f"source maps in the lite site: {maps[:5]}"
    runtime = [str(p.relative_to(LITE)) for p in LITE.rglob("*") if "pyodide.asm" in p.name]
    assert runtime == [], "Pyodide is loaded from its CDN on launch, never shipped"
    size = _size(LITE)
    assert size <= MAX_LITE_BYTES, f"the lite site weighs {size / 1e6:.1f} MB"


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_every_chapter_is_in_the_lite_contents(docname: str) -> None:
    _require_site()
    rel = _lite_paths()[docname]
    path = LITE / "files" / rel
    assert path.is_file(), f"{docname} is not in the lite contents ({path})"
    listing = json.loads((LITE / "api" / "contents" / "all.json").read_text())
    assert rel.split("/")[0] in {c["name"] for c in listing["content"]}

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python", "the Pyodide kernel"
    setup, *cells = nb.cells
    assert setup.cell_type == "code" and ext.SETUP_TAG in setup.metadata.get("tags", [])
    assert setup.source.rstrip().splitlines()[-1] == ext.PIP_LINE
    chapter = jupytext.read(_source(docname))
    assert [(c.cell_type, c.source) for c in cells] == [
        (c.cell_type, c.source) for c in chapter.cells
    ], f"{path} differs from {_source(docname)}: rebuild the site"
    assert all(c.get("outputs", []) == [] for c in nb.cells)


class _Tags(HTMLParser):
    """Every start tag with its attributes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


@functools.cache
def _tags(path: Path) -> list[tuple[str, dict[str, str]]]:
    p = _Tags()
    p.feed(path.read_text(encoding="utf-8"))
    return p.tags


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_every_chapter_page_has_the_button(docname: str) -> None:
    _require_site()
    page = SITE / f"{docname}.html"
    buttons = [
        a for t, a in _tags(page) if t == "a" and "kdeloss-lite-button" in a.get("class", "")
    ]
    assert len(buttons) == 1, f"{page} has {len(buttons)} 'Try it in your browser' links"
    (a,) = buttons
    rel = _lite_paths()[docname]
    assert a["href"] == ext.launch_url(docname, rel)
    assert a.get("target") == "_blank" and "noopener" in a.get("rel", "")
    html = page.read_text(encoding="utf-8")
    assert "Try it in your browser" in html
    assert "downloads the Python runtime" in html, "the button must say what it downloads"

    url = urlparse(urljoin(page.as_uri(), a["href"]))
    assert Path(unquote(url.path)).is_file(), f"{a['href']} does not exist"
    assert parse_qs(url.query)["path"] == [rel]
    assert (LITE / "files" / rel).is_file()


def _site_pages() -> list[Path]:
    return sorted(
        p
        for p in SITE.rglob("*.html")
        if not p.relative_to(SITE).parts[0].startswith("_")
        and p.relative_to(SITE).parts[0] != ext.LITE_OUT
    )


def test_no_page_loads_another_host_or_the_runtime_by_itself() -> None:
    """Only a click on the link opens lite/; nothing a page loads comes from elsewhere.

    (tests/site_checks.py checks the same in chromium, request by request.)
    """
    _require_site()
    bad = []
    for page in _site_pages():
        for tag, attrs in _tags(page):
            loaded = []
            if tag in {"script", "img", "iframe", "embed", "source", "audio", "video"}:
                loaded.append(attrs.get("src", ""))
            if tag == "link" and attrs.get("rel", "") != "canonical":
                loaded.append(attrs.get("href", ""))
            if tag == "object":
                loaded.append(attrs.get("data", ""))
            for url in filter(None, loaded):
                if re.match(r"^(https?:)?//", url) or re.search(rf"(^|/){ext.LITE_OUT}/", url):
                    bad.append(f"{page.relative_to(SITE)}: <{tag}> {url}")
    assert bad == []
    pages_with_button = {
        str(p.relative_to(SITE))
        for p in _site_pages()
        if "kdeloss-lite-button" in p.read_text(encoding="utf-8")
    }
    assert pages_with_button == {f"{d}.html" for d in NOTEBOOKS}


@pytest.mark.browser
@pytest.mark.slow
def test_the_button_opens_the_chapter_in_jupyterlite(site_url: str, browser) -> None:
    """In chromium, offline: the chapter page asks no other host for anything; the link opens
    the notebook in a new tab, with the setup cell and the chapter's cells; and the only other
    host the lite app then asks for is Pyodide's CDN (each such request is aborted here)."""
    _require_site()

    docname = NOTEBOOKS[0]
    rel = _lite_paths()[docname]
    foreign: list[str] = []
    local: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith((site_url, "data:", "blob:")):
            local.append(r.request.url)
            r.continue_()
        else:
            foreign.append(r.request.url)
            r.abort()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        context.route("**/*", route)
        page = context.new_page()
        page.goto(f"{site_url}{docname}.html", wait_until="networkidle")
        assert foreign == [], f"{docname} asked other hosts before the click: {foreign}"
        with context.expect_page() as opened:
            page.click("a.kdeloss-lite-button")
        lite = opened.value
        lite.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        url = lite.url
        assert url.startswith(f"{site_url}{ext.LITE_OUT}/{ext.APP}/")
        assert parse_qs(urlparse(url).query)["path"] == [rel]
        lite.wait_for_function(
            "n => document.querySelectorAll('.jp-Notebook .jp-Cell').length >= n",
            arg=len(jupytext.read(_source(docname)).cells) + 1,
            timeout=60_000,
        )
        first = lite.query_selector(".jp-Notebook .jp-Cell").inner_text()
        assert "%pip install" in first and "kdeloss" in first
        lite.wait_for_timeout(3_000)  # the kernel starts and reaches for Pyodide
    finally:
        context.close()
    hosts = {urlparse(u).netloc for u in foreign}
    assert hosts <= {"cdn.jsdelivr.net"}, f"the lite app asked other hosts: {sorted(foreign)}"
    assert any("/pyodide/" in u for u in foreign), "the kernel never asked for Pyodide"
    # the live demos' front end (anywidget's extension) is loaded by the lite app itself
    assert any(f"/{ext.LITE_OUT}/extensions/anywidget/" in u for u in local), "no anywidget"


# ---------------------------------------------------------------------------------------------
# the wheels


def _lite_wheels() -> dict[str, Path]:
    return {
        re.sub(r"[-_.]+", "-", p.name.split("-")[0]).lower(): p
        for p in (LITE / "pypi").glob("*.whl")
    }


def _metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(name).decode())


def test_the_site_ships_pure_python_wheels_with_an_index() -> None:
    _require_site()
    wheels = _lite_wheels()
    assert set(wheels) == SHIPPED
    index = json.loads((LITE / "pypi" / "all.json").read_text())
    assert set(index) == SHIPPED
    for name, wheel in wheels.items():
        assert wheel.name.endswith("-py3-none-any.whl"), f"{wheel.name} is not pure Python"
        (release,) = [r for rs in index[name]["releases"].values() for r in rs]
        assert release["filename"] == wheel.name
        assert release["digests"]["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_the_kdeloss_wheel_is_the_current_source_and_needs_only_pyodide_packages() -> None:
    _require_site()
    wheel = _lite_wheels()["kdeloss"]
    with zipfile.ZipFile(wheel) as z:
        shipped = {n: z.read(n) for n in z.namelist() if n.startswith("kdeloss/")}
    sources = {
        "kdeloss/" + p.relative_to(SRC).as_posix(): p.read_bytes()
        for p in [*SRC.rglob("*.py"), *(SRC / "book" / "demos" / "js").glob("*.js")]
        if "__pycache__" not in p.parts
    }
    assert sorted(shipped) == sorted(sources), "the wheel is not src/kdeloss: run `make book`"
    stale = [n for n in sources if shipped[n] != sources[n]]
    assert stale == [], f"the lite wheel is older than {stale}: run `make book`"

    requires = _metadata(wheel).get_all("Requires-Dist") or []
    names = {re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0].lower() for r in requires}
    allowed = PYODIDE_DISTS | KERNEL_WHEELS | SHIPPED
    assert names <= allowed, f"not in Pyodide or the site: {names - allowed}"


def test_the_kdeloss_wheel_installs_with_pip_and_imports(tmp_path: Path) -> None:
    """The pure-Python check: the wheel alone (no dependencies) gives a working package."""
    _require_site()
    wheel = _lite_wheels()["kdeloss"]
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True,
    )  # fmt: skip
    code = f"""
import sys
sys.path.insert(0, {str(target)!r})
import kdeloss, kdeloss.book.demos
assert kdeloss.__file__.startswith({str(target)!r}), kdeloss.__file__
L, g = kdeloss.loss_and_grad([0.0, 1.0], [-0.5, 0.5], -1.0, 1.0)
print(L, abs(g.sum()) < 1e-12)
"""
    env = dict(os.environ, MPLBACKEND="Agg")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert out.split()[1] == "True"


def _python_for_micropip() -> str | None:
    """A Python >= 3.13 (micropip's minimum, as in Pyodide): ``KDELOSS_MICROPIP_PYTHON``, one on
    the PATH, or one that pyenv installed (this machine's image has pyenv's 3.13)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [
        os.environ.get("KDELOSS_MICROPIP_PYTHON", ""),
        shutil.which("python3.14") or "",
        shutil.which("python3.13") or "",
        *sorted(map(str, pyenv.glob("3.1[3-9]*/bin/python3")), reverse=True),
    ]
    for exe in filter(None, candidates):
        try:  # a pyenv shim for a version that is not selected fails here
            subprocess.run(
                [exe, "-c", "import sys, venv; assert sys.version_info >= (3, 13)"],
                check=True,
                capture_output=True,
            )
        except (OSError, subprocess.CalledProcessError):
            continue
        return exe
    return None


MICROPIP_DRIVER = r"""
import asyncio, importlib.metadata, json, shlex, sys

args = json.loads(sys.argv[1])
import micropip._compat as compat

layer = compat.compatibility_layer
from_pyodide = []


async def load_package(names):  # what pyodide.loadPackage would fetch from the CDN
    from_pyodide.extend([names] if isinstance(names, str) else list(names))


layer.loadPackage = staticmethod(load_package)
layer.lockfile_packages.update(
    {n: {"name": n, "version": v, "depends": []} for n, v in args["pyodide"].items()}
)
import piplite.cli
import piplite.piplite

piplite.piplite._PIPLITE_URLS = args["indexes"]
piplite.piplite._PIPLITE_DISABLE_PYPI = True
code = asyncio.run(piplite.cli.get_transformed_code(shlex.split(args["pip"])))
namespace = {}
exec("async def run():\n    " + code.strip(), namespace)
asyncio.run(namespace["run"]())
print(json.dumps({
    "code": code.strip(),
    "from_pyodide": sorted(from_pyodide),
    "installed": {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()},
}))
"""


def test_micropip_installs_the_first_cell_from_the_site_alone(tmp_path, site_url) -> None:
    """JupyterLite's own piplite and micropip, under CPython, with PyPI turned off.

    Pyodide's lock file is stood in for by the packages it is known to ship (PYODIDE_DISTS, at
    this environment's versions); everything else must come from the site's indexes.
    """
    python = _python_for_micropip()
    if python is None:
        pytest.skip("micropip needs Python >= 3.13: none on the PATH (the pip check still ran)")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    got = subprocess.run([*pip, "install", MICROPIP], capture_output=True, text=True)
    if got.returncode != 0:
        pytest.skip(f"could not install {MICROPIP} from PyPI: {got.stderr[-300:]}")
    kernel = LITE / "extensions" / "@jupyterlite" / "pyodide-kernel-extension"
    (piplite,) = kernel.rglob("piplite-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-index", str(piplite)], check=True)

    config = json.loads((LITE / "jupyter-lite.json").read_text())["jupyter-config-data"]
    settings = config["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    lite = f"{site_url}{ext.LITE_OUT}/"
    indexes = [lite + u.removeprefix("./") for u in settings["pipliteUrls"]]
    versions = {}
    for name in PYODIDE_DISTS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "999"
    args = {"pyodide": versions, "indexes": indexes, "pip": ext.PIP_LINE.removeprefix("%pip ")}
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-c", MICROPIP_DRIVER, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    installed = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in result["installed"].items()}
    for name, wheel in _lite_wheels().items():
        assert name in installed, f"{name} was not installed: {result}"
        assert wheel.name.split("-")[1] == installed[name]
    assert {"numpy", "scipy", "sympy", "matplotlib"} <= set(result["from_pyodide"])


# ---------------------------------------------------------------------------------------------
# what Pyodide has


def _imports(source: str) -> set[str]:
    source = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_a_chapter_imports_only_what_pyodide_has_and_no_threads(docname: str) -> None:
    nb = jupytext.read(_source(docname))
    found = set().union(*(_imports(c.source) for c in nb.cells if c.cell_type == "code"))
    missing = found - PYODIDE_IMPORTS - set(sys.stdlib_module_names)
    assert missing == set(), f"{docname} imports what the browser kernel lacks: {missing}"
    assert found & NO_THREADS_IN_CHAPTERS == set(), f"{docname} uses threads or processes"


def test_kdeloss_imports_only_what_pyodide_has() -> None:
    """Threads are allowed (with a fallback, tested below), processes are not."""
    bad = {}
    for path in sorted(SRC.rglob("*.py")):
        found = _imports(path.read_text())
        missing = found - PYODIDE_IMPORTS - set(sys.stdlib_module_names)
        missing |= found & {"multiprocessing", "subprocess"}
        if missing:
            bad[str(path.relative_to(SRC))] = sorted(missing)
    assert bad == {}


NO_THREADS = r"""
import _thread, json, sys, threading

attempts = []


def refuse(*args, **kwargs):  # what Pyodide does: there are no threads to start
    attempts.append(1)
    raise RuntimeError("can't start new thread")


for module, name in [(_thread, "start_new_thread"), (_thread, "start_joinable_thread"),
                     (threading, "_start_new_thread"), (threading, "_start_joinable_thread")]:
    if hasattr(module, name):
        setattr(module, name, refuse)
threading.Thread.start = lambda self: refuse()
# numpy.f2py (imported through scipy) tries this optional module; it is compiled here only
sys.modules["charset_normalizer"] = None

import importlib, inspect, pkgutil, sysconfig
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import kdeloss
import kdeloss.book.demos as demos

for info in pkgutil.walk_packages(kdeloss.__path__, "kdeloss."):
    importlib.import_module(info.name)

rng = np.random.default_rng(7)
z, x = rng.normal(size=400), rng.normal(scale=2.0, size=400)
methods = [None]
if "method" in inspect.signature(kdeloss.loss_and_grad).parameters:
    methods = list(getattr(importlib.import_module("kdeloss.fast"), "METHODS", ["direct"]))
results = {}
for method in methods:
    kw = {} if method is None else {"method": method}
    L, g = kdeloss.loss_and_grad(z, x, -3.0, 3.0, bins=3000, **kw)
    results[str(method)] = [L, g.tolist()]

ran = []
for name in sorted(vars(demos)):
    fn = getattr(demos, name)
    if not callable(fn) or not (name.endswith("_frame") or name.endswith("Demo")):
        continue
    if name == "LiveDemo":  # the base class of the demos
        continue
    params = inspect.signature(fn).parameters.values()
    if any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD,
                                               p.KEYWORD_ONLY) for p in params):
        continue
    fn()
    plt.close("all")
    ran.append(name)

site = [Path(p).resolve() for p in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}]
compiled = set()
for mod in list(sys.modules.values()):
    file = getattr(mod, "__file__", None) or ""
    if not file.endswith((".so", ".pyd")):
        continue
    path = Path(file).resolve()
    for root in site:
        if path.is_relative_to(root):
            compiled.add(path.relative_to(root).parts[0].split(".")[0])
print(json.dumps({"results": results, "ran": ran, "compiled": sorted(compiled),
                  "attempts": len(attempts)}))
"""


def test_kdeloss_and_the_demos_run_without_threads() -> None:
    """Pyodide cannot start threads: every method and demo path must work without them."""
    env = {k: v for k, v in os.environ.items() if k != "KDELOSS_THREADS"}
    env["MPLBACKEND"] = "Agg"
    run = subprocess.run(
        [sys.executable, "-c", NO_THREADS], capture_output=True, text=True, env=env, timeout=600
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])

    import kdeloss

    rng = np.random.default_rng(7)
    z, x = rng.normal(size=400), rng.normal(scale=2.0, size=400)
    for method, (L, g) in out["results"].items():
        kw = {} if method == "None" else {"method": method}
        L0, g0 = kdeloss.loss_and_grad(z, x, -3.0, 3.0, bins=3000, **kw)  # threads allowed
        assert L == pytest.approx(L0, rel=1e-12, abs=0), method
        np.testing.assert_allclose(g, g0, rtol=1e-10, atol=1e-15, err_msg=method)

    frames = [n for n in out["ran"] if n.endswith("_frame")]
    assert frames, "no demo frame function ran"
    # psygnal's compiled build here comes with mypyc's runtime module, "<hash>__mypyc"
    extra = {c for c in out["compiled"] if not c.endswith("__mypyc")} - C_EXTENSIONS_OK
    assert extra == set(), f"C extensions Pyodide may lack: {extra}"


def test_the_glue_stand_in_shows_what_myst_nb_would() -> None:
    """kdeloss-lite's myst_nb.glue: display=True shows the value, display=False nothing."""
    shim = ROOT / "tools" / "lite" / "shim"
    code = (
        f"import sys; sys.path.insert(0, {str(shim)!r})\n"
        "import myst_nb\n"
        f"assert myst_nb.__file__.startswith({str(shim)!r})\n"
        "myst_nb.glue('a', 'shown')\n"
        "myst_nb.glue('b', 'hidden', display=False)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "shown" in out and "hidden" not in out
