#!/usr/bin/env python3
"""Make the wheels that the in-browser (JupyterLite) kernel installs.

    python tools/lite/build_wheels.py DIR

Afterwards DIR holds exactly these pure-Python (``py3-none-any``) wheels, which
``tools/sphinxext/lite.py`` hands to the lite build (``PipliteAddon.piplite_urls``):

- ``kdeloss``, built from the working tree (from a copy of ``pyproject.toml``, ``README.md``
  and ``src/``, so no ``build/`` folder lands in the repository);
- ``kdeloss-lite`` (``tools/lite/shim``): the stand-in for ``myst_nb.glue``;
- ``ipywidgets`` and ``jupyterlab_widgets`` at the versions installed in this environment, the
  ones that match the widget manager the lite site ships, and ``anywidget`` (the live demos'
  widget, matching the anywidget extension the lite site ships) with ``psygnal``, its one
  dependency that Pyodide lacks (its pure-Python wheel). pip downloads them from PyPI once;
  they are kept in DIR.

NumPy, SciPy, SymPy and Matplotlib are not here: the browser loads them from Pyodide's CDN.
Local wheels are rebuilt only when their sources change, with fixed timestamps
(``SOURCE_DATE_EPOCH``), so an unchanged wheel keeps its hash and browsers keep their copy.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: local projects: (distribution name, project folder, files and folders that make the wheel)
LOCAL = [
    ("kdeloss", ROOT, ["pyproject.toml", "README.md", "src"]),
    ("kdeloss-lite", ROOT / "tools" / "lite" / "shim", ["pyproject.toml", "myst_nb"]),
]
#: pure-Python packages the kernel needs that Pyodide may not ship, at the installed versions
DOWNLOADED = ["ipywidgets", "jupyterlab_widgets", "anywidget", "psygnal"]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".ipynb_checkpoints")
EPOCH = "315532800"  # 1980-01-01, the earliest date a zip file can hold


def norm(name: str) -> str:
    """The wheel-file spelling of a distribution name (PEP 427: runs of -_. become _)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def wheels_of(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f"{norm(name)}-*.whl"))


def source_hash(project: Path, parts: list[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        path = project / part
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for f in files:
            if (
                f.is_file()
                and not {"__pycache__", ".ipynb_checkpoints"} & set(f.parts)
                and (".egg-info" not in str(f))
            ):
                digest.update(str(f.relative_to(project)).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def build_local(out: Path, name: str, project: Path, parts: list[str]) -> Path:
    stamp = out / f".{norm(name)}.sha256"
    key = source_hash(project, parts)
    old = wheels_of(out, name)
    if len(old) == 1 and stamp.exists() and stamp.read_text().strip() == key:
        return old[0]
    with tempfile.TemporaryDirectory(prefix=f"lite-{name}-") as tmp:
        copy = Path(tmp) / "project"
        copy.mkdir()
        for part in parts:
            src = project / part
            if src.is_dir():
                shutil.copytree(src, copy / part, ignore=IGNORE)
            else:
                shutil.copy2(src, copy / part)
        built = Path(tmp) / "wheels"
        env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
        subprocess.run(
            [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(built), str(copy)],
            check=True,
            env=env,
        )
        (wheel,) = wheels_of(built, name)
        for w in old:
            w.unlink()
        shutil.copy2(wheel, out / wheel.name)
    stamp.write_text(key + "\n")
    return out / wheel.name


def download(out: Path, name: str) -> Path:
    version = importlib.metadata.version(name)
    want = f"{norm(name)}-{version}-py3-none-any.whl"
    for w in wheels_of(out, name):
        if w.name != want:
            w.unlink()
    if not (out / want).exists():
        subprocess.run(
            [
                *PIP,
                "download",
                "--no-deps",
                "--only-binary=:all:",
                # the pure-Python wheel, even where a compiled one exists (psygnal)
                "--platform=any",
                "--implementation=py",
                "--abi=none",
                "--python-version=3.12",
                "-d",
                str(out),
                f"{name}=={version}",
            ],
            check=True,
        )
    if not (out / want).exists():
        raise SystemExit(f"build_wheels: pip did not produce {want}")
    return out / want


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = Path(argv[1]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    keep = {build_local(out, *spec) for spec in LOCAL} | {download(out, n) for n in DOWNLOADED}
    for f in out.glob("*.whl"):
        if f not in keep:
            f.unlink()
    for w in sorted(keep):
        if not w.name.endswith("-py3-none-any.whl"):
            raise SystemExit(f"build_wheels: {w.name} is not a pure-Python wheel")
    print("lite wheels:", ", ".join(sorted(w.name for w in keep)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
