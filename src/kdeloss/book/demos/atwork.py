"""The at-work demo: move the input and see the four trained models' predicted densities.

The chapter "The loss at work" trains four models on interval labels
(:mod:`kdeloss.book.atwork`). Their weights are fixed traits of the demo; the one control is
the input ``u``. For each ``u`` the module computes the features, each model's logits and
its predicted density of the value on a grid, beside the true density, as
:func:`kdeloss.book.atwork.predictive_density` and :func:`~kdeloss.book.atwork.true_log_density`
do. Nothing is trained in the page; moving ``u`` only evaluates the trained models.

Examples
--------
>>> w = AtWorkDemo(u=0.3)
>>> w.u, sorted(m["kind"] for m in w.models)
(0.3, ['classify', 'histogram', 'hlgauss', 'kde'])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets

from .live import LiveDemo

__all__ = ["AtWorkDemo", "models_state"]


def models_state(study: Any = None) -> list[dict[str, Any]]:
    """The trained models as plain data for the demo: kind, name, weights, cells, bandwidth.

    ``study`` is a :class:`kdeloss.book.atwork.Study`; by default a small one is trained
    (a few seconds), so that the demo can be built without the chapter.
    """
    from .. import atwork as aw

    if study is None:
        study = aw.run_study(n_train=200, n_test=50, steps=60, margins=(20.0,), backgrounds=())
    out = []
    for kind in aw.KINDS:
        fit = study.fits[kind]
        m = fit.model
        out.append({
            "kind": kind,
            "name": aw.NAMES[kind],
            "W": np.asarray(fit.W, dtype=float).tolist(),
            "centres": m.centres.tolist(),
            "edges": m.edges.tolist(),
            "bandwidth": float(m.bandwidth),
        })
    return out


class AtWorkDemo(LiveDemo):
    """The live at-work demo (an anywidget): the input ``u`` from 0 to 1.

    Parameters
    ----------
    **traits
        Initial ``u``; fixed ``models`` (default: :func:`models_state` of a small study;
        each model's weights have one row per feature, the Gaussian bumps and a constant)
        and ``grid`` (points on [0, 100]).

    Examples
    --------
    >>> AtWorkDemo(u=0.9).demo_state()["u"]
    0.9
    """

    _module = "atwork"
    u = traitlets.Float(0.5).tag(sync=True)
    grid = traitlets.Int(201).tag(sync=True)
    models = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        if "models" not in kwargs:
            kwargs["models"] = _default_models()
        super().__init__(**kwargs)


_DEFAULT: list[dict[str, Any]] = []


def _default_models() -> list[dict[str, Any]]:
    if not _DEFAULT:
        _DEFAULT.extend(models_state())
    return [dict(m) for m in _DEFAULT]
