"""Where each stage reads and writes, per dataset. dvc.yaml declares the same paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetPaths:
    name: str
    root: Path = Path(".")

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
    def train_log(self) -> Path:
        """dvclive's folder: per-epoch curves and the final training metrics."""
        return self.root / "reports" / "train" / self.name

    @property
    def metrics(self) -> Path:
        return self.root / "metrics" / f"{self.name}.json"

    @property
    def eval_dir(self) -> Path:
        return self.root / "reports" / "eval" / self.name

    @property
    def runtime(self) -> Path:
        """Environment facts (versions, device, wall times): kept out of the metrics on purpose."""
        return self.root / "reports" / "runtime" / self.name
