"""What only the book uses: figures, plots and the studies behind its chapters.

The core library, :mod:`kdeloss`, needs NumPy and SciPy alone and never imports this
package. ``kdeloss.book`` needs the ``book`` extra (``pip install kdeloss[book]``:
matplotlib, ipywidgets, SymPy, mpmath).

Modules
-------
plots
    The Okabe-Ito palette and :func:`~kdeloss.book.plots.plot_density`.
checks
    The numerical-checking studies: differences, complex steps, quadrature and binning.
figures
    The figures of the derivation, numerical-checks and responsibility chapters, and
    :func:`~kdeloss.book.figures.markdown_table`, with which every chapter builds its tables.
overview
    The front page's picture: the model against its target, weight minus mean responsibility.
shift
    The Laplace shift property: moves, arrivals, and the closed-form change of ``log K``.
circle
    The loss on the circle: arcs, the antipodal-arc condition, polar plots.
boundary
    Weights that are zero at the optimum: the 1/k limits of gradient descent.
simplex
    The loss over the weight vectors of three points, drawn on the simplex.
dynamics
    Learning dynamics: trajectories, the wrong-class corollary, the background remedy.
alternatives
    Other losses for the same problem (L2, MMD, W1, truncated reverse KL), with gradients.
targets
    Targets other than the uniform one: smoothed labels (HL-Gauss, two-hot, label
    smoothing), categorical cross-entropy, box tilings, the table of related losses.
atwork
    The loss at work: interval-labelled regression with four losses, far starts, the
    background.
benchmarks
    The committed benchmark results (``benchmarks/results/bench.json``): find them, and look
    up a time, a ratio or a peak of memory, for the fast-paths chapter and ``bench.py``.
demos
    The live demos (widgets that draw themselves in the browser) and the chapters' static
    pictures of them: one-hot, scale, shift, remedy, circle, at work.
"""
