"""Shared test set-up: draw with matplotlib's non-interactive Agg backend."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
