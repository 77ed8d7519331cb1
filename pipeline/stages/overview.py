"""reports/index.html: one page over the run. For each dataset: the headline metrics, training
curves, confusion matrix, misclassified grid, the validation summary (with a link to its Data
Docs), the model card and what the run ran on.

Static and offline: figures are inline PNGs or files beside the page, no script comes from
elsewhere. The page is a DVC output whose bytes depend on the run's results only; the machine's
facts (device, threads, wall times) differ between machines, so the page loads them from
reports/runtime/facts.js, which the stages rewrite as they run (pipeline/runtime/machine.py).
"""

from __future__ import annotations

import html
import json
import logging
import os
from importlib import resources
from pathlib import Path

from pipeline.core import metrics as counts
from pipeline.core.config import Dataset, Params
from pipeline.core.files import write_text
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.pages.figures import confusion_figure, curves_figure, png
from pipeline.pages.html import data_uri, markdown

log = logging.getLogger("pipeline")


def _package_data(name: str) -> str:
    return "\n" + (resources.files("pipeline.stages") / name).read_text(encoding="utf-8")


# The page's stylesheet, and its script that fills each dataset's runtime table from
# window.LENET_RUNTIME (reports/runtime/facts.js): package data beside this module, dependencies
# of the stage in dvc.yaml.
STYLE = _package_data("overview.css")
RUNTIME_SCRIPT = _package_data("overview.js")


def _image(fig) -> str:
    return data_uri(png(fig))


def _link(target: Path, page: Path) -> str:
    return html.escape(Path(os.path.relpath(target, page.parent)).as_posix())


def _headline(metrics: dict, per_class: dict, test_images: int) -> str:
    test = metrics["test"]
    f1 = sum(c["f1"] for c in per_class.values()) / len(per_class)
    boxes = (("test accuracy", f"{test['accuracy']:.2%}"),
             ("errors", f"{test['errors']} of {test_images}"),
             ("test loss", f"{test['loss']:.4f}"), ("macro F1", f"{f1:.4f}"))
    return ("<div class='headline'>" + "".join(f"<div>{name}<b>{value}</b></div>"
                                               for name, value in boxes) + "</div>")


def _validation(report: dict, docs: str) -> str:
    failed = len(report["failed_checks"])
    verdict = (
        "<span class='ok'>passed</span>"
        if report["success"]
        else "<span class='failed'>failed: "
        f"{html.escape(', '.join(report['failed_checks']))}</span>"
    )
    warned = (f"; warnings: {html.escape(', '.join(report['warned_checks']))}"
              if report["warned_checks"] else "")
    return (f"<p>Validation {verdict}: {len(report['expectations'])} expectations, {failed} failed "
            f"checks{warned}. <a href='{docs}'>Data Docs</a> (every expectation and its observed "
            "value).</p>")


def dataset_section(name: str, dataset: Dataset, paths: DatasetPaths, page: Path) -> str:
    metrics = json.loads(paths.metrics.read_text())
    card = json.loads(paths.model_card_json.read_text())
    validation = json.loads(paths.validation_report.read_text())
    curves = curves_figure(
        name,
        [
            (
                "",
                "-",
                {
                    split: counts.curve(path.read_text())
                    if (path := paths.training_curve(split, "accuracy")).exists()
                    else None
                    for split in ("train", "eval")
                },
            )
        ],
    )
    matrix = (counts.confusion_of(paths.confusion.read_text(), dataset.classes)
              if paths.confusion.exists() else None)
    confusion = confusion_figure(matrix, dataset.classes, f"{name}: confusion matrix")
    label = html.escape(name)
    figures = [
        f"<img alt='{label}: training curves' src='{_image(curves)}'>" if curves else "",
        f"<img alt='{label}: confusion matrix' src='{_image(confusion)}'>" if confusion else "",
        (
            f"<img alt='{label}: misclassified test images' "
            f"src='{_link(paths.misclassified, page)}' width='640'>"
        ),
    ]
    model_card = markdown(paths.model_card.read_text())
    return f"""
<section id="{label}">
<h2>{label}</h2>
{_headline(metrics, json.loads(paths.per_class.read_text()), dataset.rows.test)}
{_validation(validation, _link(paths.data_docs / "index.html", page))}
<div class="figures">{"".join(figures)}</div>
<h3>Model</h3>
<p><a href="{_link(paths.onnx_model, page)}">model.onnx</a> (opset {card["opset"]}), pipeline
code at commit <code>{html.escape(card["git_commit"][:12])}</code>, params sha256
<code>{html.escape(card["params_sha256"][:16])}</code>.</p>
<details><summary>Model card</summary><div class="card">{model_card}</div></details>
<h3>Where it ran</h3>
<table class="runtime" data-dataset="{label}">
<tr><th>stage</th><th>device</th><th>profile honoured</th><th>threads (intra / inter)</th>
<th>CPU</th><th>wall seconds</th><th>images/s</th></tr>
</table>
</section>"""


def render(params: Params, project: ProjectPaths) -> str:
    page = project.overview
    sections = "".join(dataset_section(name, dataset, DatasetPaths(name, project.root), page)
                       for name, dataset in params.datasets.items())
    nav = " · ".join(f"<a href='#{name}'>{html.escape(name)}</a>" for name in params.datasets)
    profile = params.reproducibility
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LeNet-5 pipeline: the run</title><style>{STYLE}</style></head>
<body>
<header><h1>LeNet-5 pipeline: the run</h1>
<p>{nav} · reproducibility profile: CPU ISA {html.escape(profile.cpu_isa)},
{profile.intra_op_threads} intra-op / {profile.inter_op_threads} inter-op threads, oneDNN
{"on" if profile.onednn else "off"} · written by <code>dvc repro</code> (stage
<code>overview</code>) from the workspace's results</p>
<p>Try the models: run <code>lenet demo</code>, then open <a href="http://127.0.0.1:8000/">the
drawing page</a> (http://127.0.0.1:8000/): draw a digit, see the classes update as you
draw.</p></header>
<main>{sections}</main>
<script src="{_link(project.runtime_facts_script, page)}"></script>
<script>{RUNTIME_SCRIPT}</script>
</body></html>
"""


def run(params: Params, project: ProjectPaths) -> Path:
    write_text(project.overview, render(params, project))
    log.info("overview: %s", project.overview)
    return project.overview
