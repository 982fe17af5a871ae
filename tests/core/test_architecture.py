"""The shape of the package: a core that needs NumPy and SciPy alone, and no import cycles.

Every ``import`` statement in ``src/kdeloss`` is read with :mod:`ast`, the ones inside
functions included, so a cycle that only closes at call time is found too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "kdeloss"
# Packages that only the book's helpers may import.
BOOK_ONLY = ("matplotlib", "ipywidgets", "IPython", "PIL", "anywidget", "traitlets")
# Parts of the package that are not the core.
NOT_CORE = ("kdeloss.book",)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute names (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            # "from . import fast" imports a module, not a name
            out.update(f"{mod}.{alias.name}" for alias in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = {m for m in _imports(path) if m in modules and m != name}
        graph[name] = targets
    return graph


def _is_core(name: str) -> bool:
    return not any(name == p or name.startswith(p + ".") for p in NOT_CORE)


def test_the_import_graph_has_no_cycles() -> None:
    graph = _graph()
    # a package imports its submodules by design (``kdeloss`` -> ``kdeloss.loss``); a cycle
    # through an ``__init__`` that only re-exports is not a dependency cycle of the code
    edges = {
        m: {t for t in ts if not m.startswith(t + ".") and not t.startswith(m + ".")}
        for m, ts in graph.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycle = [*stack[stack.index(t) :], t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_the_core_never_imports_the_book_or_plotting() -> None:
    bad = []
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        if not _is_core(name):
            continue
        for mod in _imports(path):
            top = mod.split(".")[0]
            if top in BOOK_ONLY or (mod.startswith("kdeloss.") and not _is_core(mod)):
                bad.append(f"{name} imports {mod}")
    assert not bad, "\n".join(bad)


def test_importing_kdeloss_loads_no_plotting_or_sympy() -> None:
    code = (
        "import sys, kdeloss, kdeloss.fast, kdeloss.training\n"
        "kdeloss.loss_and_grad([0.0, 1.0], [0.0, 1.0], 0.0, 1.0)\n"
        "heavy = ('matplotlib', 'ipywidgets', 'IPython', 'PIL', 'sympy', 'mpmath', "
        "'kdeloss.book')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_graph_reader_sees_function_level_imports(tmp_path: Path) -> None:
    """The check above would miss nothing: an import inside a function is read too."""
    p = PACKAGE / "loss.py"
    assert "kdeloss.fast" in _imports(p)
    src = SRC / "kdeloss" / "book" / "circle.py"
    assert "kdeloss.book.shift" in _imports(src)  # imported inside a function


# --- kernel knowledge lives on the kernel classes -------------------------------------------


def _kernel_vocabulary() -> tuple[set[str], set[str]]:
    """The kernel classes (but the base class) and the kernel names."""
    from kdeloss import kernels

    classes = {
        c
        for c in vars(kernels).values()
        if isinstance(c, type) and issubclass(c, kernels.Kernel) and c is not kernels.Kernel
    }
    names = set(kernels.KERNELS) | {c.name for c in classes} - {kernels.Kernel.name}
    return {c.__name__ for c in classes}, names


def _kernel_branches(source: str, classes: set[str], names: set[str]) -> list[int]:
    """Lines of ``isinstance(..., <kernel class>)`` and of comparisons with a kernel class or
    a kernel name (``kern.name == "box"``, ``kernel in ("laplace", "gaussian")``,
    ``type(k) is Laplace``)."""

    def mentions(node: ast.AST, strings: bool) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in classes:
                return True
            if isinstance(sub, ast.Attribute) and sub.attr in classes:
                return True
            if strings and isinstance(sub, ast.Constant) and sub.value in names:
                return True
        return False

    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("isinstance", "issubclass")
            and len(node.args) == 2
            and mentions(node.args[1], strings=False)
        ) or (
            isinstance(node, ast.Compare)
            and any(mentions(n, strings=True) for n in (node.left, *node.comparators))
        ):
            lines.append(node.lineno)
    return lines


def test_no_branch_on_the_kernel_type_outside_kernels_py() -> None:
    """What a method or a study needs to know about a kernel is an attribute or a method of
    the kernel class (``exact_fast_path``, ``row_form``, ``length_scale``, ``mp_logpdf``,
    ``kink_slope_jump``, ``shift_theorem``, ``one_hot``, ...), never a test of its type or
    name elsewhere: a new kernel then needs no edit outside ``kernels.py``."""
    classes, names = _kernel_vocabulary()
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "kernels.py":
            continue
        for line in _kernel_branches(path.read_text(), classes, names):
            bad.append(f"{path.relative_to(SRC)}:{line}")
    assert not bad, "branches on the kernel type or name:\n" + "\n".join(bad)


def test_the_kernel_branch_finder_finds_them() -> None:
    classes, names = _kernel_vocabulary()
    assert {"Laplace", "Box", "VonMises", "ScaledKernel"} <= classes
    assert {"laplace", "box", "wrapped_laplace", "gennorm"} <= names
    source = (
        "a = isinstance(k, Laplace)\n"
        "b = isinstance(k, kk.Gaussian | kk.Box)\n"
        "c = k.name == 'box'\n"
        "d = kernel not in ('laplace', 'gaussian')\n"
        "e = type(k) is VonMises\n"
        "f = isinstance(k, Kernel) and k.circular and k.name == other\n"
        "g = method == 'sorted'\n"
    )
    assert _kernel_branches(source, classes, names) == [1, 2, 3, 4, 5]
