"""Screenshots of the pages from the real data, each opened in headless Chromium with the
network refused (the tests' chromium_offline), into reports/screenshots/: the overview, DVC's
plots, the data docs, and `lenet exp --html`'s experiments page where this workspace has
experiments (`make bench-seeds` leaves the defaults' seeds as a grid of them).

    python -m bench.pages        # after `make repro`; prints what each page tried to fetch

Not a test: it needs the real run's outputs. The screenshots show this machine's runtime facts.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from harness.helpers import chromium_offline
from pipeline.core import workspace
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.orchestration.grid import experiments

OUT = Path("reports/screenshots")


def main() -> int:
    project = ProjectPaths()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        workspace.run("dvc", "plots", "show", "-o", str(Path(tmp) / "plots"))
        pages = {
            "overview": (project.overview, "1280,3200"),
            "dvc-plots": (Path(tmp) / "plots" / "index.html", "1280,2400"),
            "data-docs": (DatasetPaths("mnist").data_docs / "index.html", "1280,800"),
        }
        if experiments(project.root):
            page = Path(tmp) / "experiments.html"
            workspace.run("lenet", "exp", "--html", str(page))
            pages["experiments"] = (page, "1280,1100")
        leaks = 0
        for name, (page, window) in pages.items():
            shot = Path(tmp) / f"{name}.png"
            _, requests = chromium_offline(page.resolve(), shot, window)
            shutil.copyfile(shot, OUT / shot.name)
            leaks += len(requests)
            print(f"{name}: {page} -> {OUT / shot.name}; requests that tried to leave: "
                  f"{len(requests)} {requests if requests else ''}")
    return 1 if leaks else 0


if __name__ == "__main__":
    raise SystemExit(main())
