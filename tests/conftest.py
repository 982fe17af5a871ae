"""Shared test set-up.

- Matplotlib draws with its non-interactive Agg backend (set here, before anything imports
  it), and ``ax`` is a fresh axes, closed after the test.
- ``site_url`` serves the built site (``_build/html``) on 127.0.0.1, and ``browser`` is Debian's
  chromium driven by playwright (never a downloaded browser). Without chromium, playwright or
  a built site the browser tests skip with a message saying what to do, except under CI
  (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
CHROMIUM = os.environ.get("KDELOSS_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags chromium tries to reach Google's hosts at start-up.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    """Skip (or, under CI, fail) unless chromium, playwright and the built site are there."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"chromium ({CHROMIUM}): install it with `apt-get install chromium`")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package: `make test` installs it from requirements.txt")
    if not SITE.is_dir():
        missing.append(f"the built site ({SITE}): run `make book` first")
    if missing:
        msg = "browser tests need " + "; ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture
def ax():
    """A fresh matplotlib axes; its figure is closed after the test."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots()
    yield axes
    plt.close(fig)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def site_url() -> Iterator[str]:
    """The built site, served on 127.0.0.1 (JupyterLite does not run from file://)."""
    require_browser()
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian chromium, one for the whole session (the site not needed)."""
    if not Path(CHROMIUM).exists():
        msg = f"chromium ({CHROMIUM}) is missing: install it with `apt-get install chromium`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def browser(site_url: str, chromium):
    """Headless Debian chromium, shared by the browser tests of the built site."""
    return chromium


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """``_build/screenshots`` for the site's browser tests (stale screenshots removed)."""
    from site_checks import screenshot_dir

    return screenshot_dir()
