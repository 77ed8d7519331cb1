"""Every page the project writes renders offline: opened in headless Chromium with the network
refused (harness/helpers.chromium_offline), no request leaves the machine and the content is drawn.
Each test leaves a screenshot of each page in its temporary folder."""

from __future__ import annotations

import json
import re

import pytest

from harness.helpers import chromium_offline
from harness.synthetic import run_in
from pipeline.core.paths import DatasetPaths, ProjectPaths

pytestmark = pytest.mark.integration

# A data mark of a vega plot: a line or a rect (confusion cell) with a drawn path.
DRAWN_MARK = re.compile(r'aria-roledescription="(line|rect) mark" d="M')


def with_probe(page, script: str):
    """A copy of `page` beside it (same relative links) that runs `script` when loaded."""
    probe = page.with_name(f"probe-{page.name}")
    probe.write_text(page.read_text().replace("</body>", f"<script>{script}</script></body>"))
    return probe


def assert_every_plot_drawn(page, screenshot):
    embedded = page.read_text().count("vegaEmbed('#")
    dom, requests = chromium_offline(page, screenshot)
    assert requests == []
    plots = dom.split('class="vega-embed')[1:]
    assert embedded >= 5 and len(plots) == embedded  # 4 training curves, 1 confusion matrix
    assert all(DRAWN_MARK.search(plot) for plot in plots), "a plot without data marks"


def test_dvc_plots_show_and_diff_render_offline_with_no_flag(reproduced_project, tmp_path):
    run_in(reproduced_project, "dvc", "plots", "show")
    assert_every_plot_drawn(reproduced_project / "dvc_plots" / "index.html", tmp_path / "show.png")
    # Anywhere -o puts it: the page carries its scripts.
    run_in(reproduced_project, "dvc", "plots", "diff", "HEAD", "-o", str(tmp_path / "diff"))
    assert_every_plot_drawn(tmp_path / "diff" / "index.html", tmp_path / "diff.png")


def test_data_docs_list_every_validation_run_and_render_styled_offline(
    reproduced_project, tmp_path
):
    site = DatasetPaths("digits", reproduced_project).data_docs
    results = sorted(site.glob("validations/**/*.html"))
    dom, requests = chromium_offline(site / "index.html", tmp_path / "data-docs.png")
    assert requests == []
    rows = re.findall(r'<tr class="clickable-row" data-href="(validations/[^"]+)"', dom)
    # 2 splits x 4 tables
    assert len(results) == 8 and sorted(site / row for row in rows) == results

    # A result page: laid out by the local bootstrap (a sticky navigation bar), its tables built
    # by the local bootstrap-table (rows get a data-index), the suite's checks listed.
    probe = with_probe(results[0], "document.title = "
                       "getComputedStyle(document.querySelector('nav.navbar')).position")
    dom, requests = chromium_offline(probe, tmp_path / "validation-result.png")
    assert requests == []
    assert "<title>sticky</title>" in dom and 'data-index="0"' in dom
    assert "values must be" in dom


def test_overview_page_shows_every_part_of_the_run_offline(reproduced_project, tmp_path):
    project, paths = ProjectPaths(reproduced_project), DatasetPaths("digits", reproduced_project)
    metrics = json.loads(paths.metrics.read_text())
    # Count what the browser drew: decoded images, runtime rows, and every local link's target.
    probe = with_probe(
        project.overview,
        (
            "document.title = ["
            "[...document.images].filter(i => i.complete && i.naturalWidth > 0).length,"
            "document.querySelector('table.runtime').rows.length - 1,"
            "[...document.links].map(a => a.getAttribute('href')).join(' ')].join('|')"
        ),
    )
    dom, requests = chromium_offline(probe, tmp_path / "overview.png", window="1280,3000")
    assert requests == []
    images, runtime_rows, links = re.search(r"<title>(\d+)\|(\d+)\|([^<]*)</title>", dom).groups()
    assert images == "3"  # training curves, confusion matrix, misclassified grid
    assert runtime_rows == "3"  # train, evaluate, export: from reports/runtime/facts.js
    demo = "http://127.0.0.1:8000/"  # the drawing page, served by `lenet demo` (tests/test_demo.py)
    assert demo in links.split()
    local = [link for link in links.split() if not link.startswith("#") and link != demo]
    assert {"validation/docs/digits/index.html", "../models/digits/model.onnx"} <= set(local)
    assert all((project.overview.parent / link).is_file() for link in local)
    assert f"{metrics['test']['accuracy']:.2%}" in dom
    assert f"{metrics['test']['errors']} of " in dom
    assert "Validation <span class=\"ok\">passed</span>" in dom
    assert "LeNet-5 on digits" in dom  # the model card
