"""The chapter "Computing it fast" and the benchmark behind it.

The chapter reads its timings from the committed ``benchmarks/results/bench.json`` (it
measures nothing itself), so these tests check that file: that it holds every number the
chapter shows, and that the run it records meets the goals of the fast methods. They also
run the benchmark script end to end on small sizes, and execute the chapter within its
time budget.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from chapter_harness import execution_seconds, glued

from kdeloss.book.benchmarks import RESULTS_FILE, find_results, load, peak, ratio, seconds

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


def test_chapter_executes_within_a_minute():
    """The build executed the chapter (once for all tests) in under a minute, and it glued
    the numbers its prose quotes."""
    assert execution_seconds("fast") < 60
    assert {"fast_sorted_worst", "fast_sj", "fast_sorted_1e6", "fast_dj_gau"} <= set(
        glued("fast")
    )
