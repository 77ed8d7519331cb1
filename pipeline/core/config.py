"""The one typed view of params.yaml: every stage reads its parameters from here, never raw YAML.

Validation happens before any stage does work, so a typo in params.yaml fails in a second with the
offending key named instead of half an hour into training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from pipeline.core.errors import PipelineError

PARAMS_FILE = Path("params.yaml")
MD5_HEX = r"^[0-9a-f]{32}$"


class ParamsError(PipelineError):
    """params.yaml is missing, unreadable, or does not describe a valid pipeline."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataFile(Strict):
    name: str = Field(min_length=1)
    md5: Annotated[str, Field(pattern=MD5_HEX)]


class DataFiles(Strict):
    train_images: DataFile
    train_labels: DataFile
    test_images: DataFile
    test_labels: DataFile


class SplitRows(Strict):
    train: int = Field(gt=0)
    test: int = Field(gt=0)


class Download(Strict):
    attempts: int = Field(ge=1, le=10)
    backoff_seconds: float = Field(ge=0)
    timeout_seconds: float = Field(gt=0)


VALIDATION_CHECKS = (
    "header", "rows", "missing", "dtype", "pixel_range", "labels", "classes_present",
    "class_shares", "blank_images", "saturated_images", "ink_band", "drift_class_ink",
    "drift_pixel_stats", "leakage",
)


class Validation(Strict):
    class_share_tolerance: float = Field(ge=0, le=1)
    blank_tolerance: float = Field(ge=0, le=1)
    saturated_tolerance: float = Field(ge=0, le=1)
    ink_band_mostly: float = Field(gt=0, le=1)
    drift_tolerance: float = Field(ge=0)
    max_train_test_duplicates: int = Field(ge=0)
    warn: list[Literal[VALIDATION_CHECKS]] = Field(default_factory=list)


class Preprocess(Strict):
    pad: int = Field(ge=0, le=16)
    normalize: Literal["standardize", "unit"]
    validation_fraction: float = Field(ge=0, lt=1)


class Model(Strict):
    activation: Literal["relu", "tanh", "sigmoid"]
    pooling: Literal["max", "avg"]
    # The pooling layers among S2 and S4 that pool their convolution's sums (C1's, C3's), the
    # activation following the pooling; [] for none. A default because params.yaml files from
    # before the key existed trained exactly that, and the seeds runs measured on them
    # (docgen/params_history.py) must still validate to the settings they trained.
    pool_before_activation: list[Literal["S2", "S4"]] = Field(default_factory=list)
    # The layers followed by batch norm; [] for none.
    batch_norm: list[Literal["C1", "C3", "F5", "F6"]]
    dropout: float = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _pooling_first_without_convolution_batch_norm(self) -> Model:
        pooled_convolutions = {"S2": "C1", "S4": "C3"}
        normalised = sorted(
            {pooled_convolutions[s] for s in self.pool_before_activation} & set(self.batch_norm)
        )
        if normalised:
            raise ValueError(
                f"model.pool_before_activation {self.pool_before_activation} cannot be combined "
                f"with batch norm on {', '.join(normalised)}: batch norm sits between a layer "
                f"and its activation, where the pooling now is"
            )
        return self


class Train(Strict):
    """The settings one dataset trains with (Params.train_for): params.yaml's `train`, the defaults
    of every dataset, where its own `datasets.<name>.train` does not give a key another value."""

    optimizer: Literal["adam", "sgd"]
    momentum: Annotated[float, Field(ge=0, lt=1)]
    learning_rate: Annotated[float, Field(gt=0, le=10)]
    schedule: Literal["constant", "cosine", "lecun1998"]
    loss: Literal["crossentropy", "mse"]
    label_smoothing: Annotated[float, Field(ge=0, lt=1)]
    batch_size: Annotated[int, Field(ge=1, le=65536)]
    epochs: Annotated[int, Field(ge=1, le=1000)]
    augment: bool
    shift: Annotated[float, Field(ge=0, lt=0.5)]
    rotation_degrees: Annotated[float, Field(ge=0, le=180)]
    # How the augmentation's warp samples the image between pixels.
    interpolation: Literal["bilinear", "nearest"]
    # Simard et al. 2003's elastic distortion (0: off), and the smoothness of its displacement
    # field in pixels.
    elastic_alpha: Annotated[float, Field(ge=0, le=100)]
    elastic_sigma: Annotated[float, Field(gt=0, le=16)]
    # Momentum of an exponential moving average of the weights, which the model keeps at the end
    # (Keras's use_ema); 0 keeps the last step's weights.
    ema_momentum: Annotated[float, Field(ge=0, lt=1)]
    # The cosine schedule's linear warm-up from 0 to learning_rate, in epochs (0: none).
    warmup_epochs: Annotated[float, Field(ge=0, le=100)]

    @model_validator(mode="after")
    def _warmup_within_a_cosine_schedule(self) -> Train:
        if self.warmup_epochs and self.schedule != "cosine":
            raise ValueError(
                f"warmup_epochs={self.warmup_epochs} needs schedule: cosine (it is "
                f"{self.schedule!r}); set warmup_epochs: 0"
            )
        if self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"warmup_epochs={self.warmup_epochs} leaves nothing of the {self.epochs} epochs "
                f"to the cosine decay: give fewer warm-up epochs than epochs"
            )
        return self


# params.yaml's `train` and each `datasets.<name>.train`: any keys of Train, validated as there.
# Resolved per dataset by Params.train_for, which must find every key at one level or the other.
# The shared `train` holds a default for every key in the project's params.yaml, so that a
# dataset added with `train: {}` trains; a shared value that every dataset overrides is kept as
# that default.
TrainOverrides = create_model(
    "TrainOverrides", __config__=ConfigDict(extra="forbid", frozen=True),
    **{name: ((Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)
              | None, None)
       for name, field in Train.model_fields.items()})


class Dataset(Strict):
    mirror_dir: str = Field(min_length=1)
    urls: list[str] = Field(default_factory=list)
    files: DataFiles
    rows: SplitRows
    classes: list[str] = Field(min_length=2)
    horizontal_flip: bool  # mirrored images keep their class: augmentation may flip them
    # This dataset's own train settings, over `train`'s: a change here reruns this dataset alone.
    # Required (it may be `{}`): dvc.yaml's train stage tracks datasets.<name>.train.
    train: TrainOverrides

    def data_files(self) -> list[DataFile]:
        return [getattr(self.files, key) for key in DataFiles.model_fields]


class Evaluate(Strict):
    misclassified_grid: int = Field(ge=0, le=400)


class SearchDimension(Strict):
    """One hyperparameter's range: float/int between min and max, or a choice among values."""

    type: Literal["float", "int", "choice"]
    min: float | None = None
    max: float | None = None
    step: float | None = None
    sampling: Literal["linear", "log"] = "linear"
    values: list[bool | int | float | str] | None = None

    @model_validator(mode="after")
    def _complete(self) -> SearchDimension:
        if self.type == "choice":
            if not self.values:
                raise ValueError("a choice needs a non-empty `values` list")
        elif self.min is None or self.max is None or not self.min < self.max:
            raise ValueError(f"a {self.type} range needs min < max (got {self.min}, {self.max})")
        elif self.sampling == "log" and self.min <= 0:
            raise ValueError("log sampling needs min > 0")
        return self


TUNABLE_SECTIONS = ("model", "train")


class Tune(Strict):
    dataset: str
    algorithm: Literal["random", "hyperband", "bayesian"]
    max_trials: int = Field(ge=1, le=1000)  # hyperband: ignored, its budget comes from `epochs`
    epochs: int = Field(ge=1, le=1000)  # per trial (hyperband: the most any trial gets)
    objective: Literal["val_accuracy", "val_loss"]
    space: dict[str, SearchDimension] = Field(min_length=1)


class Report(Strict):
    regression_tolerance: float = Field(ge=0, lt=1)  # absolute test accuracy
    significance: float = Field(gt=0, lt=1)  # level of the paired test (exact McNemar)
    fail_on_regression: bool


class Reproducibility(Strict):
    """What the numbers depend on beyond the settings: pinned before TensorFlow loads
    (runtime/profile.py)."""

    cpu_isa: Literal["native", "SSE41", "AVX", "AVX2", "AVX512_CORE"]  # oneDNN's ISA ceiling
    intra_op_threads: int = Field(ge=0, le=1024)  # 0: one per core (then the core count matters)
    inter_op_threads: int = Field(ge=0, le=1024)  # 0: TensorFlow's default
    onednn: bool  # TF_ENABLE_ONEDNN_OPTS
    # verify's tolerance where the profile can't be honoured
    accuracy_band: float = Field(ge=0, lt=1)


class Params(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(ge=0, lt=2**31)
    datasets: dict[str, Dataset] = Field(min_length=1)
    download: Download
    validation: Validation
    preprocess: Preprocess
    model: Model
    train: TrainOverrides
    evaluate: Evaluate
    tune: Tune
    report: Report
    reproducibility: Reproducibility

    @model_validator(mode="after")
    def _tune_targets_exist(self) -> Params:
        if self.tune.dataset not in self.datasets:
            raise ValueError(
                f"tune.dataset {self.tune.dataset!r} is not one of params.yaml's datasets"
            )
        for key in self.tune.space:
            section, _, field = key.partition(".")
            if (
                section not in TUNABLE_SECTIONS
                or field not in type(getattr(self, section)).model_fields
            ):
                raise ValueError(
                    f"tune.space key {key!r} is not a setting of the model or train sections"
                )
        return self

    @model_validator(mode="after")
    def _every_dataset_resolves_every_train_setting(self) -> Params:
        for name in self.datasets:
            missing = [
                key
                for key in Train.model_fields
                if getattr(self.dataset(name).train, key) is None
                and getattr(self.train, key) is None
            ]
            if missing:
                raise ValueError(
                    f"dataset {name!r} has no value for "
                    f"{', '.join(f'train.{k}' for k in missing)}: "
                    f"give it in `train` (every dataset) or in `datasets.{name}.train` (this one)"
                )
            try:  # settings that are valid alone but not together, once resolved
                self.train_for(name)
            except ValidationError as error:
                problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
                raise ValueError(f"dataset {name!r} trains with {problems}") from None
        return self

    @model_validator(mode="after")
    def _validation_split_needs_data(self) -> Params:
        for name, ds in self.datasets.items():
            n_val = round(ds.rows.train * self.preprocess.validation_fraction)
            if self.preprocess.validation_fraction and n_val < len(ds.classes):
                raise ValueError(
                    f"preprocess.validation_fraction={self.preprocess.validation_fraction} gives "
                    f"{n_val} validation images for dataset {name!r}: fewer than its "
                    f"{len(ds.classes)} classes, so the split cannot be stratified"
                )
        return self

    def train_for(self, name: str) -> Train:
        """The one resolution rule: `datasets.<name>.train.<key>` where given, else
        `train.<key>`."""
        return Train(**{**self.train.model_dump(exclude_none=True),
                        **self.dataset(name).train.model_dump(exclude_none=True)})

    def resolved(self) -> dict:
        """What each dataset trains with, whichever level of params.yaml gives a setting: the
        settings with `train` replaced by {dataset: its resolved train settings}."""
        settings = self.model_dump(exclude={"train"})
        for entry in settings["datasets"].values():
            entry.pop("train")
        return {
            **settings,
            "train": {name: self.train_for(name).model_dump() for name in self.datasets},
        }

    def dataset(self, name: str) -> Dataset:
        """The catalog entry for `name`, or an error listing the datasets params.yaml defines."""
        try:
            return self.datasets[name]
        except KeyError:
            known = ", ".join(sorted(self.datasets))
            raise ParamsError(f"unknown dataset {name!r}; params.yaml defines: {known}") from None


def _describe(error: ValidationError, path: Path) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<top level>"
        if item["type"] == "extra_forbidden":
            problems.append(f"  {key}: unknown key (typo? see params.yaml's documented keys)")
        elif item["type"] == "missing":
            problems.append(f"  {key}: required key is missing")
        elif not item["loc"]:  # a check across sections: its message names the keys
            problems.append(f"  {item['msg'].removeprefix('Value error, ')}")
        else:
            problems.append(f"  {key}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join([f"{path}: {len(problems)} invalid parameter(s)", *problems])


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"train": {"epochs": 3}} -> {"train.epochs": 3}, in the tree's own order (keys as params.yaml
    and `dvc exp run -S` spell them; also metrics files: {"test": {"accuracy": ...}})."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def parse_params(raw: object, path: Path = PARAMS_FILE) -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(_describe(error, path)) from None


def load_params(path: Path = PARAMS_FILE) -> Params:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found (run from the project root)") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from None
    return parse_params(raw, path)
