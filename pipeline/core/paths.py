"""Where each stage reads and writes, relative to a project root (the current directory, as DVC
runs stages); dvc.yaml declares the same paths. The project's results and state are named here;
scratch checkouts (core/workspace.py) and the Prefect server's state (orchestration/server.py)
are built where they are made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProjectPaths:
    """The project-wide files: not one dataset's."""

    root: Path = Path(".")

    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    @property
    def dvc_yaml(self) -> Path:
        return self.root / "dvc.yaml"

    @property
    def dvc_lock(self) -> Path:
        return self.root / "dvc.lock"

    @property
    def code(self) -> Path:
        return self.root / "pipeline"

    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    @property
    def run_lock(self) -> Path:
        """Which process's run owns the workspace now (pipeline/core/runlock.py)."""
        return self.root / ".lenet" / "run.json"

    @property
    def web_assets(self) -> Path:
        """npm's pinned copies of the pages' JavaScript and CSS (pipeline/pages/assets.py)."""
        return self.root / "tools" / "web-assets"

    @property
    def plots_template(self) -> Path:
        """DVC's plots page with vega inlined: .dvc/config's plots.html_template names it."""
        return self.web_assets / "dvc-plots.html"

    @property
    def overview(self) -> Path:
        """One page over the whole run: every dataset's results (pipeline/stages/overview.py)."""
        return self.root / "reports" / "index.html"

    @property
    def runtime_facts_script(self) -> Path:
        """Every reports/runtime/<dataset>/<stage>.json as one script the overview page loads:
        the facts differ between machines, so the page itself must not contain them."""
        return self.root / "reports" / "runtime" / "facts.js"

    @property
    def tune_reports(self) -> Path:
        """The search's outputs: best_params.yaml, trials.csv, search.png, summary.json."""
        return self.root / "reports" / "tune"

    @property
    def tune_resume(self) -> Path:
        """An unfinished search's keras-tuner folder (pipeline/model/resume.py): outside DVC's
        outputs."""
        return self.root / ".lenet" / "resume" / "tune"


@dataclass(frozen=True)
class DatasetPaths:
    name: str
    root: Path = Path(".")

    @property
    def reference(self) -> Path:
        """What validation compares the raw data with: built once from trusted data, committed."""
        return self.root / "suites" / f"{self.name}.reference.json"

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw" / self.name

    @property
    def validation_report(self) -> Path:
        return self.root / "reports" / "validation" / f"{self.name}.json"

    @property
    def data_docs(self) -> Path:
        return self.root / "reports" / "validation" / "docs" / self.name

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed" / f"{self.name}.npz"

    @property
    def model_dir(self) -> Path:
        return self.root / "models" / self.name

    @property
    def keras_model(self) -> Path:
        return self.model_dir / "model.keras"

    @property
    def onnx_model(self) -> Path:
        return self.model_dir / "model.onnx"

    @property
    def model_card(self) -> Path:
        return self.model_dir / "MODEL_CARD.md"

    @property
    def model_card_json(self) -> Path:
        """The model card's facts (the ONNX file's metadata, and the export check) as JSON."""
        return self.model_dir / "model_card.json"

    @property
    def train_log(self) -> Path:
        """dvclive's folder: per-epoch curves and the final training metrics."""
        return self.root / "reports" / "train" / self.name

    @property
    def metrics(self) -> Path:
        return self.root / "metrics" / f"{self.name}.json"

    @property
    def resume_state(self) -> Path:
        """An unfinished training run's state (pipeline/model/resume.py): outside DVC's outputs."""
        return self.root / ".lenet" / "resume" / f"train-{self.name}.npz"

    def training_curve(self, split: str, metric: str) -> Path:
        """dvclive's per-epoch TSV of `metric` on split "train" or "eval" (validation)."""
        return self.train_log / "plots" / "metrics" / split / f"{metric}.tsv"

    @property
    def eval_dir(self) -> Path:
        return self.root / "reports" / "eval" / self.name

    @property
    def misclassified(self) -> Path:
        return self.eval_dir / "misclassified.png"

    @property
    def per_class(self) -> Path:
        """Precision, recall and F1 per class: read by the overview and the report, not a metric."""
        return self.eval_dir / "per_class.json"

    @property
    def confusion(self) -> Path:
        return self.eval_dir / "confusion.json"

    @property
    def runtime(self) -> Path:
        """Environment facts (versions, device, wall times): kept out of the metrics on purpose."""
        return self.root / "reports" / "runtime" / self.name
