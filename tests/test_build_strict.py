"""The strict book build fails on each kind of problem, and the execution cache follows kdeloss.

The slow tests build tiny books in a temporary folder with the project's own ``_config.yml``
and ``book/references.bib`` (so exactly the same strictness settings) through
``tools/build-book``, the script ``make book`` runs.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_BOOK = ROOT / "tools" / "build-book"

HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""

CONTROL = HEADER + textwrap.dedent(
    """
    (tiny-control)=
    # Control

    A citation {cite:p}`bishop2006`, a numbered equation

    $$
    e^{i \\pi} + 1 = 0
    $$ (eq-tiny)

    and a reference to {eq}`eq-tiny` and to {ref}`tiny-control`.

    ```{code-cell} ipython3
    import kdeloss

    print(kdeloss.softmax([0.0, 0.0]))
    ```

    ```{bibliography}
    ```
    """
)

BROKEN = {
    "failing-cell": (
        HEADER + "# Failing cell\n\n```{code-cell} ipython3\n"
        "raise RuntimeError('this cell fails on purpose')\n```\n",
        "this cell fails on purpose",
    ),
    "broken-reference": (
        "# Broken reference\n\nSee {ref}`no-such-label`.\n",
        "undefined label",
    ),
    "sphinx-warning": (
        "# Plain warning\n\n![a picture that is not there](no-such-image.png)\n",
        "image file not readable",
    ),
    "stderr-output": (
        HEADER + "# A warning in a cell\n\n```{code-cell} ipython3\n"
        "import warnings\n\nwarnings.warn('careful')\n```\n",
        "stderr was found in the cell outputs",
    ),
}


def env_with_venv() -> dict[str, str]:
    """The environment, with this interpreter's scripts (jupyter-book) first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def build_tiny(tmp_path: Path, page: str) -> subprocess.CompletedProcess:
    """Build a one-page book with the project's configuration; return the finished process."""
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "book" / "references.bib", tmp_path / "book" / "references.bib")
    # what _config.yml points at: the local Sphinx extensions and the favicon
    shutil.copytree(ROOT / "tools" / "sphinxext", tmp_path / "tools" / "sphinxext")
    shutil.copytree(ROOT / "book" / "images", tmp_path / "book" / "images")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/page\n")
    (tmp_path / "book" / "page.md").write_text(page)
    return subprocess.run(
        [str(BUILD_BOOK), str(tmp_path), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env_with_venv(),
        timeout=600,
    )


@pytest.mark.slow
def test_a_clean_page_builds(tmp_path):
    proc = build_tiny(tmp_path, CONTROL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = (tmp_path / "_build" / "html" / "book" / "page.html").read_text()
    assert "[0.5 0.5]" in html


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_page_fails_the_build(tmp_path, case):
    page, message = BROKEN[case]
    proc = build_tiny(tmp_path, page)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert message in output
    assert "build-book: FAILED" in output


def test_a_warning_fails_the_build_even_if_jupyter_book_exits_0(tmp_path):
    """The log check in tools/build-book catches a warning that jupyter-book did not count."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "jupyter-book"
    fake.write_text("#!/bin/sh\necho 'page.md:3: WARNING: something odd'\nexit 0\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        [str(BUILD_BOOK), str(tmp_path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode != 0
    assert "WARNING: something odd" in proc.stdout


def make_cache_key(tmp_path: Path, lib: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), "cache-key", f"OUTDIR={tmp_path}", f"LIBDIR={lib}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_a_library_change_clears_the_execution_cache(tmp_path):
    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    (lib / "a.py").write_text("A = 1\n")
    (lib / "sub" / "b.py").write_text("B = 1\n")
    cache = tmp_path / "_build" / ".jupyter_cache"

    def fill_cache() -> None:
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "entry").write_text("executed with the old library")

    fill_cache()
    make_cache_key(tmp_path, lib)  # no key yet: the cache cannot be trusted
    assert not cache.exists()

    fill_cache()
    make_cache_key(tmp_path, lib)  # nothing changed: keep it
    assert (cache / "entry").exists()

    (lib / "notes.txt").write_text("not Python")
    (lib / "sub" / "__pycache__").mkdir()
    (lib / "sub" / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"\0")
    make_cache_key(tmp_path, lib)  # only .py sources count
    assert (cache / "entry").exists()

    (lib / "sub" / "b.py").write_text("B = 2\n")  # a nested module changed
    make_cache_key(tmp_path, lib)
    assert not cache.exists()

    fill_cache()
    (lib / "c.py").write_text("")  # a module was added
    make_cache_key(tmp_path, lib)
    assert not cache.exists()

    fill_cache()
    (lib / "c.py").rename(lib / "d.py")  # renamed, same content
    make_cache_key(tmp_path, lib)
    assert not cache.exists()
