"""Is an accuracy change more than noise? Both sides classify the same test images, so the paired
test applies: exact McNemar on the images one side gets right and the other wrong."""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from pipeline.report.diff import Change


@dataclass(frozen=True)
class Paired:
    fixed: int  # wrong at base, right with the change
    broken: int  # right at base, wrong with the change
    p_value: float  # exact two-sided McNemar (binomial on the discordant images, p = 1/2)

    def line(self) -> str:
        return (f"{self.fixed} images fixed, {self.broken} broken; exact McNemar "
                f"p = {self.p_value:.3g}")


def mcnemar(base_correct: np.ndarray, change_correct: np.ndarray) -> Paired:
    """The paired test on per-image correctness (boolean arrays over the same images)."""
    if base_correct.shape != change_correct.shape:
        raise ValueError(
            f"{base_correct.shape} vs {change_correct.shape}: not the same test images"
        )
    fixed = int(np.sum(~base_correct & change_correct))
    broken = int(np.sum(base_correct & ~change_correct))
    n, k = fixed + broken, min(fixed, broken)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n if n else 0.5
    return Paired(fixed, broken, min(1.0, 2 * tail))


def verdict(accuracy: Change, tolerance: float, paired: Paired | None, level: float) -> str:
    """"improved" or "regressed" when test accuracy moved beyond `tolerance` *and* the paired test
    says that is not noise at `level`; otherwise "no significant change". Without per-image
    predictions on both sides (paired None) the tolerance decides alone."""
    delta = accuracy.delta
    if delta is None:
        return "new" if accuracy.old is None else "removed"
    significant = paired is None or paired.p_value < level
    if delta > tolerance and significant:
        return "improved"
    if delta < -tolerance and significant:
        return "regressed"
    return "no significant change"
