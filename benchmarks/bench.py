"""Benchmark of ``kdeloss.loss_and_grad``'s methods against the tools a user would reach for.

Run it with ``make bench`` (which first installs ``requirements-bench.txt``), or directly::

    python benchmarks/bench.py             # the full run, about 10 minutes on 2 cores
    python benchmarks/bench.py --quick     # small sizes only, a few seconds

The problem: ``N`` points drawn from a standard normal with standard-normal logits, the
target ``[-1, 1]`` in ``M = N`` bins, bandwidth ``h = 0.1``; Laplace and Gaussian kernels.

What is compared, for ``N = M`` from ``10^2`` to ``10^6``:

* ours: ``method="direct"`` (up to ``N = 20,000``), ``"sorted"`` (Laplace) and ``"fft"``;
* JAX ``jit(value_and_grad)`` and PyTorch autograd of the same log-space formulation
  (``-mean(logsumexp(log_softmax(z) + log K(t - x)))``, float64), up to ``N = 10^4``;
* the forward density alone: ``scipy.stats.gaussian_kde`` (Gaussian, up to ``10^4``) and
  KDEpy's ``FFTKDE`` read at the bins.

The peers are optional (``requirements-bench.txt``); a missing one is skipped with a message.
Times are best-of-k wall-clock times over k rounds in which every method runs once (the
order rotated each round), in this one process; a ratio ``ours / peer`` is the ratio of two
such times, so the two were measured pair by pair, interleaved, under the same load.
Peak memory is measured in a fresh subprocess per case: the growth of the peak resident
set size during one call after a warm-up call (Linux ``/proc/self/status``), and for the
NumPy-based methods also ``tracemalloc``'s peak.

And a batched training step (:func:`kdeloss.loss_and_grad_batch`): ``B = 1024`` samples of
``N = 64`` logits over shared centres, ``M = 64`` bins each, Laplace kernel, against JAX
``jit(vmap(value_and_grad))`` of the same per-sample loss (float64, the batch mean and its
gradient), in two forms: an interval per sample, and bin weights per sample on shared bins.
``python benchmarks/bench.py --batch-only`` reruns only this case and updates the results.

Writes ``results/bench.json`` (everything), ``results/bench.md`` (tables) and
``results/times.png``, ``results/ratios.png`` (log-log figures). The book's chapter
"Computing it fast" draws its figures from ``bench.json`` with :func:`plot_times` and
:func:`plot_ratios`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kdeloss.book.benchmarks import peak, ratio, seconds
from kdeloss.book.figures import markdown_table

HERE = Path(__file__).resolve().parent
A, B, H = -1.0, 1.0, 0.1
KERNELS = ("laplace", "gaussian")
SIZES = (100, 1_000, 4_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (100, 1_000)
OURS = ("direct", "sorted", "fft")
PEERS = ("jax", "torch", "scipy", "kdepy")
# largest N = M each one is run at (memory and time): the O(N M) ones stop early
LIMIT = {
    "direct": 20_000,
    "sorted": 10**6,
    "fft": 10**6,
    "jax": 10_000,
    "torch": 10_000,
    "scipy": 10_000,
    "kdepy": 10**6,
}
EXTRA_SIZES = {"direct": (20_000,)}  # direct alone at 20,000: the memory claim
LABEL = {
    "direct": 'kdeloss "direct"',
    "sorted": 'kdeloss "sorted"',
    "fft": 'kdeloss "fft"',
    "jax": "JAX jit(value_and_grad)",
    "torch": "PyTorch autograd",
    "scipy": "SciPy gaussian_kde (density only)",
    "kdepy": "KDEpy FFTKDE (density only)",
}
MODULE = {"jax": "jax", "torch": "torch", "scipy": "scipy", "kdepy": "KDEpy"}
PEER_SHORT = {"jax": "JAX", "torch": "PyTorch", "scipy": "SciPy", "kdepy": "KDEpy"}
# Okabe-Ito
COLOR = {
    "direct": "#0072B2",
    "sorted": "#D55E00",
    "fft": "#009E73",
    "jax": "#E69F00",
    "torch": "#CC79A7",
    "scipy": "#56B4E9",
    "kdepy": "#000000",
}
MARKER = {
    "direct": "o",
    "sorted": "s",
    "fft": "D",
    "jax": "^",
    "torch": "v",
    "scipy": "<",
    "kdepy": ">",
}


# --------------------------------------------------------------------------------------------
# the problem and the runners


def problem(n: int, seed: int = 0) -> dict[str, Any]:
    """``N = M = n``: points and logits standard normal, target ``[A, B]``, ``h = H``."""
    rng = np.random.default_rng(seed)
    from kdeloss import bin_centers, softmax

    z = rng.normal(size=n)
    x = rng.normal(size=n)
    return {"n": n, "z": z, "x": x, "t": bin_centers(A, B, n), "S": softmax(z)}


def applies(who: str, kernel: str, n: int) -> bool:
    """Whether ``who`` is run for this kernel at this size."""
    if who == "sorted" and kernel != "laplace":
        return False
    if who == "scipy" and kernel != "gaussian":
        return False
    return n <= LIMIT[who]


def runner(who: str, kernel: str, p: dict[str, Any]) -> Callable[[], Any]:
    """A zero-argument callable doing one evaluation (the first call may compile)."""
    z, x, t, n = p["z"], p["x"], p["t"], p["n"]
    if who in OURS:
        from kdeloss import loss_and_grad

        return lambda: loss_and_grad(z, x, A, B, kernel=kernel, bandwidth=H, bins=n, method=who)
    if who == "jax":
        return _jax_runner(kernel, z, x, t)
    if who == "torch":
        return _torch_runner(kernel, z, x, t)
    if who == "scipy":
        from scipy.stats import gaussian_kde

        s = p["S"]
        factor = H / math.sqrt(float(np.cov(x, aweights=s)))
        return lambda: gaussian_kde(x, bw_method=factor, weights=s)(t)
    if who == "kdepy":
        from KDEpy import FFTKDE

        s = p["S"]
        # KDEpy's bw is the kernel's standard deviation: sqrt(2) h for the Laplace kernel
        name, bw = ("exponential", math.sqrt(2.0) * H) if kernel == "laplace" else ("gaussian", H)
        grid = max(1024, 1 << (n - 1).bit_length())

        def run() -> np.ndarray:
            g, y = FFTKDE(kernel=name, bw=bw).fit(x, weights=s).evaluate(grid)
            return np.interp(t, g, y)

        return run
    raise ValueError(f"who: unknown {who!r}")


def _jax_runner(kernel: str, z: np.ndarray, x: np.ndarray, t: np.ndarray) -> Callable[[], Any]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(z, x, t):
        d = t[:, None] - x[None, :]
        if kernel == "laplace":
            logk = -jnp.abs(d) / H - math.log(2.0 * H)
        else:
            logk = -0.5 * (d / H) ** 2 - math.log(H * math.sqrt(2.0 * math.pi))
        a = jax.nn.log_softmax(z)[None, :] + logk
        return -jnp.mean(jax.scipy.special.logsumexp(a, axis=1))

    f = jax.jit(jax.value_and_grad(loss))
    args = [jnp.asarray(v) for v in (z, x, t)]

    def run():
        value, grad = f(*args)
        grad.block_until_ready()
        return float(value), np.asarray(grad)

    return run


def _torch_runner(kernel: str, z: np.ndarray, x: np.ndarray, t: np.ndarray) -> Callable[[], Any]:
    import torch

    xt, tt = torch.from_numpy(x), torch.from_numpy(t)

    def run():
        zt = torch.tensor(z, requires_grad=True)
        d = tt[:, None] - xt[None, :]
        if kernel == "laplace":
            logk = -d.abs() / H - math.log(2.0 * H)
        else:
            logk = -0.5 * (d / H) ** 2 - math.log(H * math.sqrt(2.0 * math.pi))
        a = torch.log_softmax(zt, 0)[None, :] + logk
        value = -torch.logsumexp(a, 1).mean()
        value.backward()
        return value.detach().item(), zt.grad.numpy()

    return run


def available(who: str) -> str | None:
    """None if ``who`` can run here, else why not."""
    if who in OURS:
        return None
    if importlib.util.find_spec(MODULE[who]) is None:
        return f"{MODULE[who]} is not installed (pip install -r requirements-bench.txt)"
    return None


# --------------------------------------------------------------------------------------------
# the batched case

#: Samples, centres and bins of the batched case, and its bandwidth.
BATCH = {"B": 1024, "N": 64, "M": 64, "bandwidth": H}
BATCH_CASES = ("intervals", "weights")
BATCH_LABEL = {
    "intervals": "an interval [a_b, b_b] per sample (uniform target)",
    "weights": "bin weights per sample on shared bins of [-1, 1]",
}


def batch_problem(seed: int = 0) -> dict[str, Any]:
    """Centres evenly spaced on ``[-3, 3]``, logits standard normal; intervals centred at a
    standard normal with widths uniform in ``[0.2, 1]``; weights uniform in ``[0, 1]``."""
    rng = np.random.default_rng(seed)
    n_samples, n, m = BATCH["B"], BATCH["N"], BATCH["M"]
    centre = rng.normal(size=n_samples)
    width = rng.uniform(0.2, 1.0, size=n_samples)
    return {
        "x": np.linspace(-3.0, 3.0, n),
        "Z": rng.normal(size=(n_samples, n)),
        "a": centre - width / 2,
        "b": centre + width / 2,
        "W": rng.random((n_samples, m)),
    }


def batch_runners(
    case: str, p: dict[str, Any], with_jax: bool = True
) -> dict[str, Callable[[], Any]]:
    """``{"ours": ..., "jax": ...}`` for a batched case: each returns (mean loss, gradient)."""
    from kdeloss import loss_and_grad_batch

    h, m = BATCH["bandwidth"], BATCH["M"]
    x, Z = p["x"], p["Z"]
    if case == "intervals":
        args: tuple[Any, ...] = (p["a"], p["b"])
        kw: dict[str, Any] = {}
    else:
        args, kw = (A, B), {"target": p["W"]}

    def ours() -> tuple[float, np.ndarray]:
        return loss_and_grad_batch(Z, x, *args, kernel="laplace", bandwidth=h, bins=m, **kw)

    fns = {"ours": ours}
    if with_jax and available("jax") is None:
        fns["jax"] = _jax_batch_runner(case, p)
    return fns


def _jax_batch_runner(case: str, p: dict[str, Any]) -> Callable[[], Any]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    h, m = BATCH["bandwidth"], BATCH["M"]
    x = jnp.asarray(p["x"])
    k = jnp.arange(m) + 0.5

    def per_bin(z, t):
        logk = -jnp.abs(t[:, None] - x[None, :]) / h - math.log(2.0 * h)
        return jax.scipy.special.logsumexp(jax.nn.log_softmax(z)[None, :] + logk, axis=1)

    if case == "intervals":

        def loss(z, a, b):
            return -jnp.mean(per_bin(z, a + k * ((b - a) / m)))

        data = (jnp.asarray(p["Z"]), jnp.asarray(p["a"]), jnp.asarray(p["b"]))
    else:
        t = A + k * ((B - A) / m)

        def loss(z, w):
            return -jnp.sum(w * per_bin(z, t)) / jnp.sum(w)

        data = (jnp.asarray(p["Z"]), jnp.asarray(p["W"]))
    each = jax.vmap(jax.value_and_grad(loss))

    @jax.jit
    def step(*args):
        values, grads = each(*args)
        return jnp.mean(values), grads / values.shape[0]

    def run():
        value, grad = step(*data)
        grad.block_until_ready()
        return float(value), np.asarray(grad)

    return run


def run_batch(reps: int = 15, with_jax: bool = True) -> dict[str, Any]:
    """Both batched cases, ours and JAX side by side (best of ``reps`` interleaved rounds
    after a warm-up), their ratio and how far apart their answers are."""
    p = batch_problem()
    out: dict[str, Any] = {"problem": dict(BATCH), "cases": []}
    for case in BATCH_CASES:
        fns = batch_runners(case, p, with_jax)
        first = {w: f() for w, f in fns.items()}  # warm-up: JAX compiles here
        best = rounds(fns, reps)
        row: dict[str, Any] = {"case": case, "t_ours": best["ours"]}
        if "jax" in fns:
            (l0, g0), (l1, g1) = first["jax"], first["ours"]
            row |= {
                "t_jax": best["jax"],
                "ratio": best["ours"] / best["jax"],
                "loss_diff": abs(l1 - l0) / max(1.0, abs(l0)),
                "grad_diff": float(np.abs(g1 - g0).max()) * BATCH["B"],
            }
        out["cases"].append(row)
        print(f"batch {case}: " + "  ".join(f"{k} {v:.3g}" for k, v in row.items() if k != "case"))
    return out


def table_batch(results: dict[str, Any]) -> str:
    rows = []
    for r in results["batch"]["cases"]:
        rows.append(
            [
                BATCH_LABEL[r["case"]],
                _fmt_time(r["t_ours"]),
                _fmt_time(r.get("t_jax")),
                _fmt_ratio(r.get("ratio")),
                f"{r['loss_diff']:.1g}" if "loss_diff" in r else "",
                f"{r['grad_diff']:.1g}" if "grad_diff" in r else "",
            ]
        )
    head = [
        "case",
        "kdeloss loss_and_grad_batch",
        "JAX jit(vmap(value_and_grad))",
        "ratio",
        "loss difference",
        "gradient difference (per sample)",
    ]
    return markdown_table(head, rows, align="lrrrrr")


# --------------------------------------------------------------------------------------------
# timing and memory


def reps_for(seconds: float) -> int:
    """How many rounds, from the time of one round: more for quick ones, at least 3."""
    return 3 if seconds > 1.0 else 5 if seconds > 0.05 else 9


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def rounds(fns: dict[str, Callable[[], Any]], reps: int) -> dict[str, float]:
    """Best-of-``reps`` time of each function, run in interleaved rounds.

    Each round calls every function once, in an order rotated from round to round, so any
    two of them are measured side by side under the same load; a ratio of two of these
    times is a pair-by-pair, interleaved, best-of-``reps`` ratio.
    """
    names = list(fns)
    best = dict.fromkeys(names, math.inf)
    for r in range(reps):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            best[name] = min(best[name], timed(fns[name]))
    return best


def _status(key: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{key}:\s+(\d+) kB", text).group(1)) * 1024


def memory_case(who: str, kernel: str, n: int) -> dict[str, Any]:
    """Peak memory of one call (run in a fresh process by :func:`memory`)."""
    p = problem(n)
    run = runner(who, kernel, p)
    run()  # warm-up: imports, compilation, thread pool
    out: dict[str, Any] = {}
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS
        base = _status("VmRSS")
        run()
        out["rss_peak"] = max(0, _status("VmHWM") - base)
    except OSError:
        out["rss_peak"] = None
    if who in OURS or who in ("scipy", "kdepy"):
        tracemalloc.start()
        run()
        out["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out


def memory(who: str, kernel: str, n: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--memory-case", who, kernel, str(n)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# the run


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = _meminfo_total()
    except OSError:
        mem = None
    versions = {"python": platform.python_version()}
    for name in ("numpy", "scipy", "kdeloss", "jax", "torch", "KDEpy"):
        if importlib.util.find_spec(name) is not None:
            from importlib.metadata import PackageNotFoundError, version

            try:
                versions[name] = version(name)
            except PackageNotFoundError:
                versions[name] = "?"
    from kdeloss.fast import worker_count

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": mem,
        "system": f"{platform.system()} {platform.release()}",
        "versions": versions,
        "kdeloss_threads": worker_count(),
        "load_average_start": list(os.getloadavg()),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _meminfo_total() -> int:
    text = Path("/proc/meminfo").read_text()
    return int(re.search(r"MemTotal:\s+(\d+) kB", text).group(1)) * 1024


def _err(ours: tuple[float, np.ndarray], ref: tuple[float, np.ndarray]) -> dict[str, float]:
    (l1, g1), (l0, g0) = ours, ref
    return {
        "loss": abs(l1 - l0) / abs(l0),
        "grad": float(np.abs(g1 - g0).max() / np.abs(g0).max()),
    }


def run_all(sizes: tuple[int, ...], peers: tuple[str, ...], do_memory: bool) -> dict[str, Any]:
    """Time every applicable (ours, peer) pair; errors against the exact methods; memory."""
    skipped = {}
    for who in peers:
        why = available(who)
        if why:
            skipped[who] = why
            print(f"skipping {LABEL[who]}: {why}", flush=True)
    peers = tuple(w for w in peers if w not in skipped)
    results: dict[str, Any] = {
        "problem": {"a": A, "b": B, "bandwidth": H, "points": "standard normal", "bins": "M = N"},
        "machine": machine(),
        "skipped": skipped,
        "times": [],
        "pairs": [],
        "errors": [],
        "memory": [],
    }
    start = time.perf_counter()
    for kernel in KERNELS:
        extra = {s for w in OURS for s in EXTRA_SIZES.get(w, ())} if max(sizes) > 10**4 else set()
        for n in sorted(set(sizes) | extra):
            p = problem(n)
            who_here = [w for w in (*OURS, *peers) if applies(w, kernel, n)]
            if n not in sizes:  # an extra size: only who asked for it
                who_here = [w for w in who_here if n in EXTRA_SIZES.get(w, ())]
            fns = {w: runner(w, kernel, p) for w in who_here}
            first = {w: timed(f) for w, f in fns.items()}  # warm-up (JAX compiles here)
            best = rounds(fns, reps_for(sum(first.values())))
            ours_here = [w for w in fns if w in OURS]
            others = [w for w in fns if w not in OURS]
            # ours against each other (direct is the reference) and against each peer
            pairs = [(o, q) for i, o in enumerate(ours_here) for q in ours_here[i + 1 :]]
            pairs += [(o, q) for o in ours_here for q in others]
            for o, q in pairs:
                results["pairs"].append(
                    {
                        "kernel": kernel,
                        "n": n,
                        "ours": o,
                        "peer": q,
                        "t_ours": best[o],
                        "t_peer": best[q],
                        "ratio": best[o] / best[q],
                    }
                )
            for w in fns:
                results["times"].append({"kernel": kernel, "n": n, "who": w, "seconds": best[w]})
            # agreement with the exact methods (and of the gradient-computing peers)
            ref_name = "direct" if "direct" in fns else "sorted" if "sorted" in fns else None
            if ref_name:
                ref = fns[ref_name]()
                for w in fns:
                    if w != ref_name and w in (*OURS, "jax", "torch"):
                        value, grad = fns[w]()
                        results["errors"].append(
                            {"kernel": kernel, "n": n, "who": w, "against": ref_name}
                            | _err((value, np.asarray(grad)), ref)
                        )
            line = "  ".join(f"{w} {best[w]:.3g}s" for w in fns)
            print(
                f"[{time.perf_counter() - start:6.0f}s] {kernel:8s} N = M = {n:>9,}: {line}",
                flush=True,
            )
    if do_memory:
        for kernel in KERNELS:
            for who in (*OURS, *peers):
                extra = set(EXTRA_SIZES.get(who, ())) if max(sizes) > 10**4 else set()
                for n in sorted(set(sizes) | extra):
                    if not applies(who, kernel, n):
                        continue
                    if who not in ("sorted",) and kernel == "laplace":
                        continue  # memory hardly depends on the kernel: Gaussian only
                    got = memory(who, kernel, n)
                    results["memory"].append({"kernel": kernel, "n": n, "who": who} | got)
                    print(
                        f"[{time.perf_counter() - start:6.0f}s] memory {who} {kernel} {n:,}:"
                        f" {got}",
                        flush=True,
                    )
    results["machine"]["load_average_end"] = list(os.getloadavg())
    results["machine"]["seconds"] = time.perf_counter() - start
    return results


# --------------------------------------------------------------------------------------------
# reporting: tables and figures (the chapter reads the committed bench.json with the same
# lookups, kdeloss.book.benchmarks: load, seconds, ratio, peak)


def _fmt_time(s: float | None) -> str:
    if s is None:
        return ""
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def _fmt_bytes(b: int | None) -> str:
    if b is None:
        return ""
    if b < 2**20:
        return f"{b / 2**10:.0f} KiB"
    if b < 2**30:
        return f"{b / 2**20:.3g} MiB"
    return f"{b / 2**30:.3g} GiB"


def _fmt_ratio(r: float | None) -> str:
    if r is None:
        return ""
    return f"{r:.2g}" if r >= 0.01 else f"1/{1 / r:,.0f}"


def _sizes(results: dict[str, Any], kernel: str) -> list[int]:
    return sorted({r["n"] for r in results["times"] if r["kernel"] == kernel})


def _whos(results: dict[str, Any], kernel: str) -> list[str]:
    seen = {r["who"] for r in results["times"] if r["kernel"] == kernel}
    return [w for w in (*OURS, *PEERS) if w in seen]


def table_times(results: dict[str, Any], kernel: str) -> str:
    """Markdown: best time per method and size."""
    whos = _whos(results, kernel)
    rows = [
        [f"{n:,}", *(_fmt_time(seconds(results, w, kernel, n)) for w in whos)]
        for n in _sizes(results, kernel)
    ]
    return markdown_table(["N = M", *(LABEL[w] for w in whos)], rows, "r" * (len(whos) + 1))


def table_ratios(results: dict[str, Any], kernel: str) -> str:
    """Markdown: ``t_ours / t_peer`` per pair and size (below 1: ours is faster)."""
    pairs = []
    for row in results["pairs"]:
        key = (row["ours"], row["peer"])
        if row["kernel"] == kernel and key not in pairs:
            pairs.append(key)
    rows = [
        [f"{n:,}", *(_fmt_ratio(ratio(results, o, q, kernel, n)) for o, q in pairs)]
        for n in _sizes(results, kernel)
    ]
    header = ["N = M", *(f"{o} / {q}" for o, q in pairs)]
    return markdown_table(header, rows, "r" * (len(pairs) + 1))


def table_memory(results: dict[str, Any]) -> str:
    """Markdown: peak memory growth of one call."""
    whos = [w for w in (*OURS, *PEERS) if any(r["who"] == w for r in results["memory"])]
    sizes = sorted({r["n"] for r in results["memory"]})
    rows = []
    for n in sizes:
        cells = []
        for w in whos:
            rss, tm = peak(results, w, n), peak(results, w, n, "tracemalloc_peak")
            cell = _fmt_bytes(rss)
            if tm is not None:
                cell += f" ({_fmt_bytes(tm)})"
            cells.append(cell)
        rows.append([f"{n:,}", *cells])
    return markdown_table(["N = M", *(LABEL[w] for w in whos)], rows, "r" * (len(whos) + 1))


def table_errors(results: dict[str, Any]) -> str:
    """Markdown: the agreement of each method with the exact ones."""
    rows = [
        [e["kernel"], f"{e['n']:,}", e["who"], e["against"], f"{e['loss']:.1e}",
         f"{e['grad']:.1e}"]
        for e in results["errors"]
    ]
    header = ["kernel", "N = M", "method", "against", "loss", "grad"]
    return markdown_table(header, rows, "-r--rr")


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {_fmt_bytes(m['memory_bytes'])}, "
        f"{m['system']}; {m['date']}; load average at start "
        f"{', '.join(f'{v:.1f}' for v in m['load_average_start'])}, at end "
        f"{', '.join(f'{v:.1f}' for v in m.get('load_average_end', []))}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        "",
        f"Problem: N points ~ N(0, 1), logits ~ N(0, 1), target [{A}, {B}] in M = N bins, "
        f"h = {H}. Times are best-of-k over k rounds in which every method runs once (order "
        "rotated each round), in one process; a ratio t_ours / t_peer divides two such times, "
        "measured side by side (below 1: kdeloss is faster).",
    ]
    for who, why in results["skipped"].items():
        lines.append(f"Skipped {LABEL[who]}: {why}.")
    for kernel in KERNELS:
        if not any(r["kernel"] == kernel for r in results["times"]):
            continue
        lines += ["", f"## {kernel.capitalize()} kernel: time", "", table_times(results, kernel)]
        lines += [
            "",
            f"## {kernel.capitalize()} kernel: ratios",
            "",
            table_ratios(results, kernel),
        ]
    if results["memory"]:
        lines += [
            "",
            "## Peak memory of one call",
            "",
            "Growth of the peak resident set during one call after a warm-up call (in "
            "brackets: tracemalloc's peak, NumPy-based methods only). Gaussian kernel, except "
            '"sorted" (Laplace).',
            "",
            table_memory(results),
        ]
    if results["errors"]:
        lines += [
            "",
            "## Agreement",
            "",
            table_errors(results),
        ]
    if results.get("batch"):
        b = results["batch"]["problem"]
        lines += [
            "",
            "## Batched training step",
            "",
            f"B = {b['B']:,} samples of N = {b['N']} logits over shared centres (evenly spaced "
            f"on [-3, 3]), M = {b['M']} bins each, Laplace kernel, h = {b['bandwidth']}: the "
            "batch mean of the loss and its (B, N) gradient, against JAX "
            "jit(vmap(value_and_grad)) of the same per-sample loss in float64 (best of 15 "
            "interleaved rounds after a warm-up; differences relative to max(1, |loss|), and "
            "the largest per-sample gradient difference).",
            "",
            table_batch(results),
        ]
    return "\n".join(lines) + "\n"


def plot_times(ax: Any, results: dict[str, Any], kernel: str) -> None:
    """Log-log plot of time against ``N = M`` for every method and peer."""
    for who in _whos(results, kernel):
        pts = [(n, seconds(results, who, kernel, n)) for n in _sizes(results, kernel)]
        pts = [(n, s) for n, s in pts if s is not None]
        ax.loglog(
            *zip(*pts, strict=True),
            marker=MARKER[who],
            color=COLOR[who],
            label=LABEL[who],
            linestyle="--" if who in PEERS else "-",
        )
    ax.set_xlabel("N = M (points = bins)")
    ax.set_ylabel("time per evaluation (s)")
    ax.set_title(f"{kernel} kernel")
    ax.grid(True, which="major", color="0.9")


def plot_ratios(
    ax: Any, results: dict[str, Any], kernel: str, peers: tuple[str, ...] = ("jax", "torch")
) -> None:
    """Log-log plot of ``t_ours / t_peer`` (measured side by side) against ``N = M``."""
    styles = {"jax": "-", "torch": "--", "scipy": ":", "kdepy": "-."}
    for ours in OURS:
        for peer in peers:
            pts = [(n, ratio(results, ours, peer, kernel, n)) for n in _sizes(results, kernel)]
            pts = [(n, r) for n, r in pts if r is not None]
            if pts:
                ax.loglog(
                    *zip(*pts, strict=True),
                    marker=MARKER[ours],
                    color=COLOR[ours],
                    linestyle=styles[peer],
                    label=f"{ours} / {PEER_SHORT[peer]}",
                )
    ax.axhline(1.0, color="0.3", linewidth=0.8)
    ax.set_xlabel("N = M (points = bins)")
    ax.set_ylabel("time ratio kdeloss / peer")
    ax.set_title(f"{kernel} kernel (below 1: kdeloss is faster)", fontsize=10)
    ax.grid(True, which="major", color="0.9")


def figures(results: dict[str, Any], out: Path) -> None:
    """``times.png`` (every method and peer) and ``ratios.png`` (against JAX and PyTorch)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name, fn in (("times", plot_times), ("ratios", plot_ratios)):
        fig, axes = plt.subplots(1, 2, figsize=(9, 4.6), layout="constrained", facecolor="white")
        for ax, kernel in zip(axes, KERNELS, strict=True):
            fn(ax, results, kernel)
        legend_below(fig, axes)
        fig.savefig(out / f"{name}.png", dpi=120, facecolor="white")
        plt.close(fig)


def legend_below(fig: Any, axes: Any) -> None:
    """One legend for all panels, under them."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    fig.legend(seen.values(), seen.keys(), loc="outside lower center", ncol=3, fontsize=8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 100 and 1000 only")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="output folder")
    parser.add_argument(
        "--peers",
        default=",".join(PEERS),
        help="comma-separated peers to include (default: all; '' for none)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument(
        "--batch-only",
        action="store_true",
        help="run only the batched case and update it in the existing results",
    )
    parser.add_argument(
        "--memory-case", nargs=3, metavar=("WHO", "KERNEL", "N"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.memory_case:
        who, kernel, n = args.memory_case
        print(json.dumps(memory_case(who, kernel, int(n))))
        return 0
    peers = tuple(p for p in args.peers.split(",") if p)
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        parser.error(f"--peers: unknown {', '.join(unknown)}; expected some of {', '.join(PEERS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.batch_only:
        results = json.loads((args.out / "bench.json").read_text())
        results["batch"] = run_batch(5 if args.quick else 15, "jax" in peers)
        results["batch"]["machine"] = machine()
        (args.out / "bench.json").write_text(json.dumps(results, indent=1) + "\n")
        (args.out / "bench.md").write_text(markdown(results))
        print(f"updated the batched case in {args.out / 'bench.json'} and bench.md")
        return 0
    sizes = QUICK_SIZES if args.quick else SIZES
    results = run_all(sizes, peers, do_memory=not args.no_memory)
    results["batch"] = run_batch(5 if args.quick else 15, "jax" in peers)
    (args.out / "bench.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "bench.md").write_text(markdown(results))
    figures(results, args.out)
    print(f"wrote {args.out / 'bench.json'}, bench.md, times.png, ratios.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
