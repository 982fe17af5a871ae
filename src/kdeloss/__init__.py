"""kdeloss: the cross-entropy between a uniform target and a softmax-weighted KDE.

The per-bin gradient is "weight minus responsibility", ``dl/dz_i = S_i - r_i(t)``; the
binned loss's gradient is ``S_i - mean_m r_i(t_m)``. Everything is computed in log space.
This package is the core library: it needs NumPy and SciPy only. What only the book uses
(figures, studies, demos) is in :mod:`kdeloss.book`, which the core never imports.

Modules
-------
loss
    :func:`loss_and_grad`, :func:`bin_grad`, :func:`responsibilities`,
    :func:`log_density`, :func:`model_probability`, :func:`loss`, :func:`bin_centers`.
kernels
    The kernels (``"laplace"``, ``"gaussian"``, ``"box"``, ``"vonmises"``,
    ``"wrapped_laplace"``, ``"wrapped_box"``), :class:`ScaledKernel` and
    :func:`get_kernel`. What the methods ask of a kernel lives on its class.
batch
    :func:`loss_and_grad_batch`: the mean loss and gradient of a batch of logits over
    shared centres, vectorised.
fast
    The methods of :func:`loss_and_grad`: ``"direct"``, ``"sorted"``, ``"fft"``, ``"auto"``.
logspace
    ``log_softmax``, ``softmax``, ``logaddexp``, the row log-sum-exp and the shared errors.
training
    :func:`gradient_descent` on the logits and :func:`em` on the weights.
symbolic
    SymPy builders for the one-bin loss and its gradient (SymPy imported on demand).
naive
    The literal density formula, for contrast: it turns to NaN far from the target.
testing
    The exact mpmath reference (``reference``, ``reference_at``), the project's error
    measures and finite and complex-step differences, for tests, chapters and users (not
    imported with the package; mpmath is imported on demand).
"""

from .batch import loss_and_grad_batch
from .kernels import (
    KERNELS,
    Box,
    Gaussian,
    GeneralizedNormal,
    Kernel,
    Laplace,
    ScaledKernel,
    VonMises,
    WrappedBox,
    WrappedLaplace,
    get_kernel,
    wrap_angle,
)
from .loss import (
    bin_centers,
    bin_grad,
    log_density,
    log_softmax,
    loss,
    loss_and_grad,
    model_probability,
    responsibilities,
    softmax,
)
from .naive import naive_bin_grad, naive_loss_and_grad
from .training import Trajectory, em, gradient_descent

__version__ = "0.1.0"

__all__ = [
    "KERNELS",
    "Box",
    "Gaussian",
    "GeneralizedNormal",
    "Kernel",
    "Laplace",
    "ScaledKernel",
    "Trajectory",
    "VonMises",
    "WrappedBox",
    "WrappedLaplace",
    "bin_centers",
    "bin_grad",
    "em",
    "get_kernel",
    "gradient_descent",
    "log_density",
    "log_softmax",
    "loss",
    "loss_and_grad",
    "loss_and_grad_batch",
    "model_probability",
    "naive_bin_grad",
    "naive_loss_and_grad",
    "responsibilities",
    "softmax",
    "wrap_angle",
]
