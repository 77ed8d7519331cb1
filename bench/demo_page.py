"""The drawing page (`lenet demo`) on the real models: a screenshot with a drawn digit classified,
the page's load time and per-drawing inference time in headless Chromium, and what it loads.

    python -m bench.demo_page        # after `make repro`; writes reports/screenshots/demo.png

Not a test: it needs the real run's outputs. The test of the page is tests/test_demo.py.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from harness.helpers import drive_demo

OUT = Path("reports/screenshots")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        seen = drive_demo(Path.cwd(), [], Path(tmp) / "page.json", OUT / "demo.png")
    wrong = [item for item in seen["strip"] if item["page"] != item["evaluated"]]
    print(json.dumps({
        "ready_ms": seen["ready_ms"],  # models loaded, the test strip classified
        "inference_ms_per_drawing": round(seen["inference_ms"], 2),  # preprocessing + the model
        "bytes_loaded": seen["bytes"],
        "drawn_top_class": seen["drawn"]["top"],
        "strip_agrees_with_evaluate": not wrong,
        "requests_refused": seen["refused"],
        "screenshot": str(OUT / "demo.png"),
    }, indent=2))
    return 0 if not wrong and not seen["refused"] else 1


if __name__ == "__main__":
    sys.exit(main())
