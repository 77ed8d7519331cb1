"""pipeline/stages/tune.py without a search: how it saves keras-tuner's state."""

from __future__ import annotations

import os
from pathlib import Path


def test_a_search_saving_its_state_leaves_the_old_state_whole_until_the_new_one_replaces_it(
        tmp_path, monkeypatch):
    """keras-tuner's own save truncated oracle.json before writing it: a search killed then could
    not resume (JSONDecodeError). Through pipeline.stages.tune its saves are written aside and
    renamed."""
    from keras_tuner.src.engine.stateful import Stateful

    import pipeline.stages.tune  # noqa: F401  (installs the atomic writer)

    class SearchState(Stateful):
        def __init__(self, trials):
            self.trials = trials

        def get_state(self):
            return {"trials": self.trials}

        def set_state(self, state):
            self.trials = state["trials"]

    oracle = tmp_path / "oracle.json"
    SearchState(1).save(str(oracle))
    on_disk_while_saving = []
    rename = os.replace

    def watched_rename(source, target):
        on_disk_while_saving.append(Path(target).read_text())
        rename(source, target)

    monkeypatch.setattr(os, "replace", watched_rename)
    SearchState(2).save(str(oracle))
    assert on_disk_while_saving == ['{"trials": 1}']
    resumed = SearchState(0)
    resumed.reload(str(oracle))
    assert resumed.trials == 2
    assert [p.name for p in tmp_path.iterdir()] == ["oracle.json"]
