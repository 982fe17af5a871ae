"""Check the book's links with Sphinx's linkcheck builder, notebooks not executed.

    python tools/linkcheck.py          (``make linkcheck``)

Runs ``jupyter-book build --builder linkcheck`` on a copy of ``_config.yml`` with execution
off, so it is quick. Internal links (to pages, labels and anchors of this book) must all
resolve; external ones (``http(s)://``) are skipped by default, since the machines that build
this book may be offline. Set ``KDELOSS_LINKCHECK_EXTERNAL=1`` to check those too.
Exits non-zero if any link is broken.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "linkcheck"


def main() -> int:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    if os.environ.get("KDELOSS_LINKCHECK_EXTERNAL") != "1":
        sphinx_config["linkcheck_ignore"] = [r"https?://.*", r"mailto:.*"]
    sphinx_config["linkcheck_anchors"] = True
    # the copy lives in _build/linkcheck: make the local extensions' paths absolute
    local = config["sphinx"].get("local_extensions") or {}
    config["sphinx"]["local_extensions"] = {k: str(ROOT / v) for k, v in local.items()}
    OUT.mkdir(parents=True, exist_ok=True)
    cfg = OUT / "_config.yml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    env = dict(os.environ)
    env.pop("KDELOSS_LITE_WHEELS", None)  # no JupyterLite build for a link check
    run = subprocess.run(
        [
            "jupyter-book",
            "build",
            str(ROOT),
            "--builder",
            "linkcheck",
            "--config",
            str(cfg),
            "--path-output",
            str(OUT),
        ],
        env=env,
        check=False,
    )
    report = OUT / "_build" / "html" / "output.json"  # jupyter-book names the folder html
    if not report.exists():
        print(f"linkcheck: no report at {report}", file=sys.stderr)
        return run.returncode or 1
    rows = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    broken = [r for r in rows if r.get("status") == "broken"]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.get("status", "?")] = counts.get(r.get("status", "?"), 0) + 1
    print("linkcheck:", ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    for r in broken:
        print(f"  broken: {r['filename']}:{r['lineno']}: {r['uri']} ({r['info']})")
    return 1 if broken or run.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
