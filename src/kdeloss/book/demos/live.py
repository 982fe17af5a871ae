"""Live demos: one ES module per demo, the same in Jupyter, in JupyterLite and on the site.

Each demo is an :class:`anywidget.AnyWidget` whose ES module (``js/core.js``, the shared
log-space core and drawing toolkit, followed by ``js/<demo>.js``) computes and draws; the
parameters are traits, so moving a control in the page sets the trait in Python and setting a
trait in Python redraws the page. The cell's output also carries a ``text/html`` rendition
that mounts the same module with the same state and needs no kernel: the book's HTML build
selects it (``nb_mime_priority_overrides`` in ``_config.yml``).

The contract the page keeps (tests and outside tools rely on it): the demo's root element has
``data-kdeloss-demo="<name>"`` and, after every redraw, a ``data-state`` attribute holding
JSON with the kernel, ``x``, ``z`` and what the demo draws (``t`` with ``grad_bin``; ``a``,
``b``, ``bins`` with ``grad``, ``loss`` and ``background``). The numbers are a port of
kdeloss's formulas; ``tests/test_demos_live.py`` checks them against kdeloss to 1e-12.

Examples
--------
>>> from kdeloss.book.demos import OneHotDemo
>>> w = OneHotDemo(t=3.2)
>>> w.t, w.demo_state()["t"]
(3.2, 3.2)
>>> "data-kdeloss-demo" in w._esm and "text/html" in w._repr_mimebundle_()[0]
True
"""

from __future__ import annotations

import functools
import json
import secrets
from importlib import resources
from typing import Any

import anywidget

__all__ = ["LiveDemo", "demo_module", "kernel_from_state"]

_FOOTER = """
export function render({ model, el }) { return mountDemo(model, el, SPEC); }
export function mountStatic(el, state) { return mountDemo(staticModel(state), el, SPEC); }
export default { render };
"""


@functools.cache
def demo_module(name: str) -> str:
    """The ES module of a demo: the shared core, the demo's own file, and its exports.

    Parameters
    ----------
    name : str
        The demo's file stem in ``kdeloss/book/demos/js`` (``"onehot"``, ``"scale"``, ...).

    Examples
    --------
    >>> src = demo_module("onehot")
    >>> "function logSoftmax" in src and "export default" in src
    True
    """
    js = resources.files("kdeloss.book.demos") / "js"
    core = (js / "core.js").read_text(encoding="utf-8")
    own = (js / f"{name}.js").read_text(encoding="utf-8")
    return f"{core}\n{own}\n{_FOOTER}"


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (``<`` escaped, so no ``</script>``)."""
    return (
        json.dumps(value, separators=(",", ":"), allow_nan=False)
        .replace("<", "\\u003c")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


class LiveDemo(anywidget.AnyWidget):
    """Base class of the live demos: an anywidget plus a kernel-free ``text/html`` rendition.

    Subclasses set ``_module`` (the file stem in ``kdeloss/book/demos/js``) and declare their
    parameters as synced traits.
    """

    _module: str = ""

    def __init__(self, **kwargs: Any) -> None:
        if not self._module:
            raise TypeError("LiveDemo: use a demo (OneHotDemo, ...), not the base class")
        super().__init__(_esm=demo_module(self._module), **kwargs)

    def demo_state(self) -> dict[str, Any]:
        """The synced parameter values (the traits the module reads), as plain JSON data."""
        skip = {"_esm", "_css", "_anywidget_id", "layout", "tabbable", "tooltip"}
        names = [
            k
            for k in self.trait_names(sync=True)
            if not k.startswith("_") and k not in skip
        ]
        return {k: _plain(getattr(self, k)) for k in sorted(names)}

    def html(self) -> str:
        """The kernel-free rendition: a ``<div>`` and an inline module script mounting the demo.

        The module source and the state are embedded in the page (no request is made); the
        module is imported from a Blob URL.
        """
        uid = "kdl-" + secrets.token_hex(6)
        src = _script_json(self._esm)
        state = _script_json(self.demo_state())
        return (
            f'<div id="{uid}" class="kdl-mount"></div>\n'
            '<script type="module">\n'
            f"const src = {src};\n"
            f"const state = {state};\n"
            'const url = URL.createObjectURL(new Blob([src], {type: "text/javascript"}));\n'
            "const mod = await import(url);\n"
            "URL.revokeObjectURL(url);\n"
            f'mod.mountStatic(document.getElementById("{uid}"), state);\n'
            "</script>"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        out = super()._repr_mimebundle_(**kwargs)
        if isinstance(out, tuple):
            data, meta = out
        else:
            data, meta = out, {}
        data = dict(data or {})
        data["text/html"] = self.html()
        return data, meta


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(u) for k, u in v.items()}
    if isinstance(v, tuple | list):
        return [_plain(u) for u in v]
    if isinstance(v, float | int | bool | str) or v is None:
        return v
    return float(v)


def kernel_from_state(kernel: dict[str, Any]) -> Any:
    """The kdeloss kernel object for a ``data-state`` kernel entry.

    Parameters
    ----------
    kernel : dict
        ``{"name": ..., "bandwidth": h}`` (and ``"p"`` for ``"generalized_normal"``).

    Returns
    -------
    kdeloss.kernels.Kernel

    Examples
    --------
    >>> kernel_from_state({"name": "laplace", "bandwidth": 0.5})
    Laplace(bandwidth=0.5)
    >>> kernel_from_state({"name": "generalized_normal", "bandwidth": 0.5, "p": None}).name
    'box'
    """
    from ...kernels import KERNELS, GeneralizedNormal, get_kernel

    name, h = kernel["name"], float(kernel["bandwidth"])
    if name == "generalized_normal":
        p = kernel.get("p")
        # kdeloss's GeneralizedNormal(width w) is exp(-|2d/w|^p): contract bandwidth h = w/2
        if p is None:
            return get_kernel("box", 2.0 * h)
        return GeneralizedNormal(2.0 * h, float(p))
    if name in KERNELS:
        return get_kernel(name, h)
    raise ValueError(f"kernel: unknown name {name!r}")

