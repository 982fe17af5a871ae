"""The chapter "Computing it fast", the appendix "Benchmarks", and the benchmark behind them.

The two pages read their timings from the committed ``benchmarks/results/bench.json`` (they
measure nothing themselves), so these tests check that file: that it holds every number the
pages show, that the run it records meets the goals of the fast methods, and that the pages'
words about it (who is faster where) agree with it. They also test the chapter's helpers in
:mod:`kdeloss.book.benchmarks`, run the benchmark script end to end on small sizes, and
check that the build executed both pages within their time budget and glued their numbers.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from chapter_harness import execution_seconds, glued

from kdeloss import fast
from kdeloss.book.benchmarks import (
    PROBLEM_KINDS,
    RESULTS_FILE,
    fft_grid_errors,
    find_results,
    headline,
    load,
    peak,
    random_problem,
    ratio,
    relative_errors,
    seconds,
    sorted_against_direct,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench  # noqa: E402

RESULTS = load(ROOT / RESULTS_FILE)


def test_results_describe_the_machine_and_the_problem():
    m = RESULTS["machine"]
    for key in ("cpu", "cores", "memory_bytes", "date", "load_average_start", "versions"):
        assert m[key], key
    assert {"numpy", "jax", "torch", "KDEpy"} <= set(m["versions"])
    assert RESULTS["problem"]["bandwidth"] == bench.H
    assert not RESULTS["skipped"], "the committed run must include every peer"


@pytest.mark.parametrize(
    ("ours", "peer", "kernel", "n"),
    [
        ("direct", "jax", "laplace", 4000),
        ("direct", "jax", "gaussian", 4000),
        ("direct", "torch", "laplace", 4000),
        ("direct", "torch", "gaussian", 4000),
        ("direct", "jax", "gaussian", 100),
        ("direct", "fft", "gaussian", 100),
        ("direct", "fft", "gaussian", 4000),
        ("sorted", "jax", "laplace", 10_000),
        ("sorted", "torch", "laplace", 10_000),
    ],
)
def test_results_have_every_ratio_the_chapter_shows(ours, peer, kernel, n):
    value = ratio(RESULTS, ours, peer, kernel, n)
    assert value is not None and value > 0


def test_results_have_every_time_and_peak_the_chapter_shows():
    for who, kernel in [
        ("sorted", "laplace"),
        ("fft", "laplace"),
        ("fft", "gaussian"),
        ("kdepy", "gaussian"),
    ]:
        assert seconds(RESULTS, who, kernel, 10**6) is not None
    assert peak(RESULTS, "direct", 20_000) is not None
    assert peak(RESULTS, "direct", 20_000, "tracemalloc_peak") is not None
    for who in ("jax", "torch"):
        assert peak(RESULTS, who, 10_000) is not None
    assert any(e["who"] == "fft" for e in RESULTS["errors"])


def test_recorded_run_meets_the_goals():
    """Issue #7's goals, as recorded by the committed run."""
    for kernel in ("laplace", "gaussian"):
        assert ratio(RESULTS, "direct", "jax", kernel, 4000) <= 1.0
    assert ratio(RESULTS, "sorted", "jax", "laplace", 10_000) <= 1 / 300
    assert seconds(RESULTS, "sorted", "laplace", 10**6) < 1.0
    assert peak(RESULTS, "direct", 20_000, "tracemalloc_peak") < 100 * 2**20
    assert peak(RESULTS, "direct", 20_000) < 100 * 2**20
    for e in RESULTS["errors"]:
        limit = 1e-6 if e["who"] == "fft" else 1e-10
        assert max(e["loss"], e["grad"]) < limit, e


def test_recorded_run_is_ahead_of_kdepy_at_a_million():
    """Issue #12's goals: at N = M = 10^6, loss and gradient against KDEpy's density alone
    (side by side in one process), and the peak extra memory."""
    for kernel in ("laplace", "gaussian"):
        assert ratio(RESULTS, "fft", "kdepy", kernel, 10**6) <= 1.0
    assert ratio(RESULTS, "sorted", "kdepy", "laplace", 10**6) <= 1.5
    assert peak(RESULTS, "sorted", 10**6) <= 200 * 2**20
    assert peak(RESULTS, "fft", 10**6) <= 200 * 2**20


def test_the_chapter_finds_the_committed_results_from_its_folder():
    assert find_results(ROOT / "book") == RESULTS


def test_tables_and_figures_from_the_results(tmp_path):
    text = bench.markdown(RESULTS)
    assert "## Laplace kernel: ratios" in text and "## Peak memory of one call" in text
    bench.figures(RESULTS, tmp_path)
    assert (tmp_path / "times.png").stat().st_size > 10_000
    assert (tmp_path / "ratios.png").stat().st_size > 10_000


def test_bench_runs_end_to_end_without_peers(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench.py"),
            "--quick",
            "--peers",
            "",
            "--no-memory",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads((tmp_path / "bench.json").read_text())
    assert {r["n"] for r in got["times"]} == set(bench.QUICK_SIZES)
    assert {r["who"] for r in got["times"]} == {"direct", "sorted", "fft"}
    assert all(math.isfinite(r["ratio"]) for r in got["pairs"])
    assert (tmp_path / "bench.md").exists() and (tmp_path / "times.png").exists()


def test_bench_reports_a_missing_peer(monkeypatch):
    monkeypatch.setitem(bench.MODULE, "kdepy", "no_such_module_for_kdeloss")
    assert "not installed" in bench.available("kdepy")
    assert bench.available("direct") is None


def test_headline_has_every_number_finite_and_positive():
    numbers = headline(RESULTS)
    assert all(math.isfinite(v) and v > 0 for v in numbers.values()), numbers
    assert numbers["fft_cross"] in {r["n"] for r in RESULTS["times"]}


def test_headline_names_what_a_run_lacks():
    thin = {**RESULTS, "pairs": [p for p in RESULTS["pairs"] if p["peer"] != "jax"]}
    with pytest.raises(ValueError, match=r"^results: this run has no direct / jax"):
        headline(thin)


def test_the_words_about_kdepy_agree_with_the_results():
    """The pages say: for the Gaussian kernel KDEpy's density alone takes less time than the
    loss and gradient by "fft" at every size up to ``kdepy_lead_until`` (and not beyond), and
    at 10^6 "fft" takes less time than KDEpy's density."""
    numbers = headline(RESULTS)
    lead = int(numbers["kdepy_lead_until"])
    assert lead >= 100
    for n in sorted({r["n"] for r in RESULTS["times"]}):
        fft_over_kdepy = ratio(RESULTS, "fft", "kdepy", "gaussian", n)
        if fft_over_kdepy is not None:
            assert (fft_over_kdepy > 1) == (n <= lead), n
    assert numbers["fft_kdepy_gau_1e6"] < 1.0


def test_the_constants_the_chapter_quotes():
    """The chapter writes these library constants in words: 1e-6, 1e-12, 1 MiB blocks."""
    assert fast.FFT_TOL == 1e-6
    assert fast.EXACT_TOL == 1e-12
    assert fast.CHUNK_BYTES == 2**20


def test_random_problems_of_every_kind():
    rng = np.random.default_rng(1)
    for kind in PROBLEM_KINDS:
        z, x = random_problem(rng, kind, n=30, bins=10)
        assert z.shape == x.shape == (30,) and np.isfinite(x).all()
    with pytest.raises(ValueError, match=r"^kind: "):
        random_problem(rng, "nowhere")


def test_relative_errors():
    assert relative_errors((1.0, np.array([2.0])), (1.0, np.array([2.0]))) == (0.0, 0.0)


def test_sorted_agrees_with_direct_on_small_problems():
    check = sorted_against_direct(seed=3, n=300, bins=200)
    assert len(check.rows) == 2 * len(PROBLEM_KINDS)
    assert check.worst <= fast.EXACT_TOL


def test_fft_error_is_second_order_in_the_grid_step():
    grid = fft_grid_errors(n=300, steps=np.array([1 / 16, 1 / 32, 1 / 64]))
    slopes = np.diff(np.log2(grid.errors[:, 1])) / np.diff(np.log2(grid.steps))
    assert np.all((slopes > 1.5) & (slopes < 2.5)), slopes
    assert grid.default < fast.FFT_TOL


def test_chapter_executes_within_a_minute():
    """The build executed the chapter (once for all tests) in under a minute, and it glued
    the numbers its prose quotes; the sorted method's check is within the exact bound."""
    assert execution_seconds("fast") < 60
    got = glued("fast")
    assert {"fast_sorted_worst", "fast_sj", "fast_sorted_1e6", "fast_dj_gau"} <= set(got)
    assert got["fast_sorted_worst"] <= fast.EXACT_TOL
    assert got["fast_fft_default_gaussian"] < fast.FFT_TOL
    assert got["fast_sj"] == pytest.approx(headline(RESULTS)["sj"])


def test_appendix_executes_within_a_minute():
    """The build executed the benchmarks appendix in under a minute, and it glued every
    number of :func:`headline` and the machine of the run."""
    assert execution_seconds("benchmarks") < 60
    got = glued("benchmarks")
    assert {f"bench_{k}" for k in headline(RESULTS)} | {"bench_machine", "bench_date"} <= set(
        got
    )
    assert got["bench_fft_err"] == pytest.approx(headline(RESULTS)["fft_err"])
