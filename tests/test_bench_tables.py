"""What the docs generator (docgen) and the benchmarks compute from what was measured: which seeds
run is "the current one" in the README tables, the targets' rows, oneDNN's cost per primitive from
its verbose log, and each op's from TensorFlow's profiler trace."""

import json
from pathlib import Path

from bench.lab import onednn_primitives, op_profile
from docgen import targets, writer
from docgen.blocks.seeds import seed_spread
from docgen.results import SEEDS_RESULTS, current_seed_run, params_sha256, seed_runs
from harness.synthetic import run_in
from pipeline.core.config import PARAMS_FILE
from pipeline.tools.params_edit import apply_overrides


def test_current_seed_run_is_the_latest_commits_not_the_last_file_name(tmp_path):
    run_in(tmp_path, "git", "init", "-q", "-b", "main")
    (tmp_path / "params.yaml").write_text("seed: 42\n")
    sha = params_sha256(tmp_path)
    folder = tmp_path / SEEDS_RESULTS
    folder.mkdir(parents=True)
    commits = []
    for message in ("older", "newer"):
        env = {"GIT_AUTHOR_DATE": f"@{1_700_000_000 + len(commits) * 60} +0000"}
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"]
        (tmp_path / "history.txt").write_text(message)
        run_in(tmp_path, "git", "add", "-A")
        run_in(tmp_path, "env", *(f"{k}={v}" for k, v in env.items()), "git", "-c",
               "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", message)
        commits.append(run_in(tmp_path, "git", "rev-parse", "HEAD").stdout.strip())
    # Name the newer commit's file so that it sorts first.
    for commit, name, seeds in ((commits[0], "f_older", 3), (commits[1], "0_newer", 5)):
        run = {"overrides": {}, "seeds": {str(42 + k): {"mnist": 0.99} for k in range(seeds)},
               "summary": {"mnist": {"mean": 0.99, "std": 0.0, "min": 0.99, "max": 0.99,
                                     "seeds": seeds}},
               "params_sha256": sha, "commit": commit}
        (folder / f"{name}.json").write_text(json.dumps(run))

    assert current_seed_run(tmp_path)["commit"] == commits[1]
    assert [run["commit"] for run in seed_runs(tmp_path)] == commits
    assert (
        "mean of 5 seeds"
        in seed_spread(current_seed_run(tmp_path))["mnist"]
    )


def committed_params(root: Path, params_text: str) -> tuple[str, Path]:
    """A git repository at `root` whose one commit holds params.yaml: (that commit, the empty
    seeds results folder)."""
    run_in(root, "git", "init", "-q", "-b", "main")
    (root / "params.yaml").write_text(params_text)
    run_in(root, "git", "add", "-A")
    run_in(root, "git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q",
           "-m", "params")
    folder = root / SEEDS_RESULTS
    folder.mkdir(parents=True)
    return run_in(root, "git", "rev-parse", "HEAD").stdout.strip(), folder


def test_a_levers_update_rewrites_the_levers_table_and_leaves_the_results_alone(tmp_path):
    commit, folder = committed_params(tmp_path, "seed: 42\n")
    lever = {
        "overrides": {"train.interpolation": "nearest"},
        "seeds": {"42": {"mnist": 0.995}, "43": {"mnist": 0.997}},
        "summary": {
            "mnist": {"mean": 0.996, "std": 0.0014, "min": 0.995, "max": 0.997, "seeds": 2}
        },
        "params_sha256": "other",
        "commit": commit,
    }
    (folder / "lever.json").write_text(json.dumps(lever))
    results_block = f"{writer.BEGIN}\nmeasured by make bench\n{writer.END}"
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# x\n{results_block}\n{writer.LEVERS_BEGIN}\nold\n{writer.LEVERS_END}\n"
    )

    writer.update_docs(tmp_path, None)

    text = readme.read_text()
    assert results_block in text
    assert '| `train.interpolation: "nearest"` | 42-43 | 99.60% ± 0.14% |' in text
    assert "\nold\n" not in text


def test_an_adopted_levers_seeds_are_the_defaults_seeds_while_its_first_seed_is_the_committed_metrics(  # noqa: E501
    tmp_path,
):
    commit, folder = committed_params(tmp_path, PARAMS_FILE.read_text())
    params = tmp_path / "params.yaml"
    lever = {
        "overrides": {"train.shift": 0.07},
        "seeds": {
            "42": {"mnist": 0.995, "fashion_mnist": 0.921},
            "43": {"mnist": 0.997, "fashion_mnist": 0.923},
        },
        "summary": {
            "mnist": {"mean": 0.996, "std": 0.0014, "min": 0.995, "max": 0.997, "seeds": 2},
            "fashion_mnist": {"mean": 0.922, "std": 0.0014, "min": 0.921, "max": 0.923, "seeds": 2},
        },
        "params_sha256": params_sha256(tmp_path),
        "commit": commit,
    }
    (folder / "lever.json").write_text(json.dumps(lever))
    (tmp_path / "metrics").mkdir()

    def committed(mnist: float) -> None:
        for ds, accuracy in (("mnist", mnist), ("fashion_mnist", 0.921)):
            (tmp_path / "metrics" / f"{ds}.json").write_text(
                json.dumps({"test": {"accuracy": accuracy}})
            )

    committed(0.995)
    assert current_seed_run(tmp_path) is None  # a lever, not yet the defaults

    apply_overrides(params, {"train.shift": 0.07})  # adopted: other bytes, the lever's settings
    assert current_seed_run(tmp_path)["commit"] == commit
    assert (
        "mean of 2 seeds (42 to 43): 99.60%"
        in seed_spread(current_seed_run(tmp_path))["mnist"]
    )

    committed(0.994)  # the code has changed the numbers since the lever ran
    assert current_seed_run(tmp_path) is None


def test_an_adopted_levers_seeds_still_describe_the_defaults_after_a_key_with_the_old_behaviour_is_added(  # noqa: E501
    tmp_path,
):
    """The lever ran on a params.yaml without model.pool_before_activation (the key came later,
    its default [] what that code trained): the README must keep its 5-seed mean."""
    without_key = "".join(line for line in PARAMS_FILE.read_text().splitlines(keepends=True)
                          if "pool_before_activation:" not in line)
    commit, folder = committed_params(tmp_path, without_key)
    lever = {
        "overrides": {"train.shift": 0.07},
        "seeds": {"42": {"mnist": 0.995}, "43": {"mnist": 0.997}},
        "summary": {
            "mnist": {"mean": 0.996, "std": 0.0014, "min": 0.995, "max": 0.997, "seeds": 2}
        },
        "params_sha256": "other",
        "commit": commit,
    }
    (folder / "lever.json").write_text(json.dumps(lever))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "mnist.json").write_text(json.dumps({"test": {"accuracy": 0.995}}))
    (tmp_path / "params.yaml").write_text(PARAMS_FILE.read_text())  # today's, with the key
    apply_overrides(tmp_path / "params.yaml", {"train.shift": 0.07})

    assert current_seed_run(tmp_path)["commit"] == commit


def test_the_epoch_target_is_the_median_pairs_ratio_so_one_slow_baseline_run_cannot_pass_it():
    # The medians' ratio would read 9 / 5 = 1.8x, a pass carried by the slow first baseline run.
    seconds = {"baseline": 9.0, "current": 5.0, "pair_ratios": [10 / 4, 7 / 5, 9 / 6]}

    ratio, text = targets.epoch_speedup(seconds)

    assert ratio == 1.5
    assert text == "1.50× (5.00 s vs 9.00 s; 3 pairs: 1.40-2.50×)"


def test_onednn_cost_per_step_is_the_median_call_times_calls_per_step():
    conv = ("onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx2,forward_training,"
            "src:f32::blocked:acdb::f0 dst:f32::blocked:acdb::f0,attr-post-ops:eltwise_relu,"
            "alg:convolution_direct,mb256_ic1oc6_ih32oh28kh5sh1dh0ph0_iw32ow28kw5sw1dw0pw0,{ms}")
    gemm = ("onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,src_f32::blocked:ab:f0,,,"
            "256x400:400x120,{ms}")
    log = "\n".join([
        "onednn_verbose,v1,info,cpu,isa:Intel AVX2",
        "onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,brg_conv_fwd:avx2,x,y,z,9.0",
        conv.format(ms=50.0),  # the first call, while tracing: not typical
        *(conv.format(ms=2.0) for _ in range(3)),
        *(gemm.format(ms=0.5) for _ in range(8)),  # two calls per step
        "a line of the benchmark's own",
    ])
    cost = onednn_primitives.per_step(onednn_primitives.exec_calls(log), steps=4)
    conv_key = onednn_primitives.Primitive("convolution", "brg_conv_fwd:avx2", "forward_training",
                                           "mb256_ic1oc6_ih32oh28kh5sh1dh0ph0_iw32ow28kw5sw1dw0pw0")
    gemm_key = onednn_primitives.Primitive("gemm_api", "-", "undef", "256x400:400x120")
    assert cost == {conv_key: 2.0, gemm_key: 1.0}
    assert list(cost) == [conv_key, gemm_key]  # largest first


def test_op_profile_sums_each_op_on_the_executors_threads_and_leaves_other_threads_out(tmp_path):
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    plane = space.planes.add(name="/host:CPU")
    names = {1: op_profile.EXECUTOR, 2: "seq/C1/Relu:_MklNativeFusedConv2D", 3: "adam/Mul_4:Mul",
             4: "TFE_Py_ExecuteCancelable"}
    for key, name in names.items():
        plane.event_metadata[key].name = name
    for line_name, events in [("tf_Compute/1", [(1, 10.0), (2, 6.0), (3, 1.0), (2, 2.0)]),
                              ("tf_Compute/2", [(3, 0.5)]),
                              # the caller's thread: not the executor's
                              ("python", [(4, 20.0), (2, 9.0)])]:
        line = plane.lines.add(name=line_name)
        for key, ms in events:
            line.events.add(metadata_id=key, duration_ps=int(ms * 1e9))
    (tmp_path / "host.xplane.pb").write_bytes(space.SerializeToString())
    times, calls, executor = op_profile.op_times(tmp_path)
    assert times == {names[2]: 8.0, names[3]: 1.5}
    assert calls == {names[2]: 2, names[3]: 2}
    assert executor == 10.0


def test_the_targets_labels_say_the_constants_they_check(monkeypatch, tmp_path):
    """No target's label is typed beside its constant: change a constant, and its label says so."""
    monkeypatch.setattr(targets, "REPRO_BUDGET_S", 900)
    monkeypatch.setattr(targets, "EPOCH_BEFORE_S", 8)
    monkeypatch.setattr(targets, "EPOCH_AFTER_S", 5)
    monkeypatch.setattr(targets, "EPOCH_SPEEDUP", 1.6)
    monkeypatch.setattr(targets, "SEED_MEAN_SEEDS", 3)
    monkeypatch.setattr(targets, "current_seed_run", lambda root: None)
    results = {"accuracy": {"mnist": 0.995, "fashion_mnist": 0.925}, "repro_seconds": 200.0,
               "repro_seconds_second_run": 210.0, "identical_metrics": True,
               "train_images_per_second": {"mnist": 2e4, "fashion_mnist": 2e4},
               "plain_keras_images_per_second": 1.5e4,
               "inference": {"onnx_batch1": 1e4, "keras_batch1": 30.0, "onnx_batch1000": 4e4,
                             "keras_batch1000": 2e4},
               "epoch_seconds": {"baseline": 8.0, "current": 5.0}}

    labels = [row[0] for row in targets.summary_rows(results, tmp_path)]

    assert any("≤ 15 min" in label for label in labels), labels
    assert any("≥ 1.60× faster" in label and "about 8 s -> 5 s" in label for label in labels), (
        labels
    )
    means = sum("mean of 3 seeds" in label for label in labels)
    assert means == len(targets.SEED_MEAN_TARGETS), labels


def seeds_run(commit: str, overrides: dict, mean: float, seconds: float | None) -> dict:
    """A one-dataset (mnist) seeds run of two seeds, with training seconds where given."""
    run = {"overrides": overrides, "seeds": {"42": {"mnist": mean}, "43": {"mnist": mean}},
           "summary": {"mnist": {"mean": mean, "std": 0.0, "min": mean, "max": mean, "seeds": 2}},
           "params_sha256": "other", "commit": commit,
           "cpu": {"model": "m", "vendor": "v", "flags": ["avx2"], "cores": 2}}
    if seconds is not None:
        run["train_seconds"] = {"42": {"mnist": seconds}, "43": {"mnist": seconds}}
    return run


def test_the_frontier_lists_runs_cheapest_first_against_the_floor_and_skips_untimed_runs(tmp_path):
    from docgen.blocks.frontier import frontier_section

    commit, folder = committed_params(tmp_path, "seed: 42\ndatasets: {mnist: {}}\n")
    runs = {"dear": ({"datasets.mnist.train.epochs": 15}, 0.9953, 60.0),
            "cheap": ({"datasets.mnist.train.epochs": 7}, 0.99498, 30.0),
            "untimed": ({"datasets.mnist.train.epochs": 9}, 0.9960, None)}
    for name, (overrides, mean, seconds) in runs.items():
        (folder / f"{name}.json").write_text(json.dumps(seeds_run(commit, overrides, mean,
                                                                  seconds)))

    rows = [line for line in frontier_section(tmp_path).splitlines() if "`datasets." in line]

    assert len(rows) == 2  # the untimed run is not a point of the frontier
    # 99.498% rounds to the floor but is under it: three decimals say so.
    assert rows[0].startswith("| `datasets.mnist.train.epochs: 7` | 30 s | 99.498% ± 0.00% |")
    assert rows[0].split("|")[5].strip() == "no"
    assert rows[1].startswith("| `datasets.mnist.train.epochs: 15` | 60 s | 99.530% ± 0.00% |")
    assert rows[1].split("|")[5].strip() == "yes"


def test_the_fresh_clone_block_shows_each_measured_kind_and_whether_git_status_was_clean(tmp_path):
    from docgen.blocks.costs import fresh_clone_section
    from docgen.results import fresh_clone_file

    assert "Not measured yet" in fresh_clone_section(tmp_path)
    cpu = {"model": "m", "vendor": "v", "flags": ["avx2"], "cores": 2}
    measured = {"warm": (60, 120, True), "cold": (90, 150, False)}
    for kind, (install, repro, clean) in measured.items():
        path = fresh_clone_file(kind, tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"kind": kind, "commit": "c0ffee00", "cpu": cpu,
                                    "install_s": install, "repro_s": repro,
                                    "total_s": install + repro, "clean": clean}))

    rows = [line for line in fresh_clone_section(tmp_path).splitlines() if "`c0ffee0`" in line]

    assert [row.split("|")[2:6] for row in rows] == [
        [" 1.0 min ", " 2.0 min ", " 3.0 min ", " yes "],
        [" 1.5 min ", " 2.5 min ", " 4.0 min ", " **no** "]]


def test_the_suite_time_block_shows_every_run_and_each_interpreters_median_against_the_first(
        tmp_path):
    from docgen.blocks.costs import suite_time_section
    from docgen.results import suite_time_file

    assert "Not measured yet" in suite_time_section(tmp_path)

    def run(python: str, seconds: float, failed: int = 0) -> dict:
        return {"python": python, "version": "3.11.0", "executable": f"/bin/{python}",
                "install_s": 90.0, "test_s": seconds, "test_cpu_s": 2 * seconds,
                "exit_code": 2 if failed else 0, "tests": 10, "failed": failed, "skipped": 1}

    no_report = {**run("a", 59.6), "exit_code": 2}
    for key in ("tests", "failed", "skipped"):
        del no_report[key]
    runs = [run("a", 500.0), run("b", 450.0), run("a", 400.0, failed=2), run("b", 470.0),
            no_report]
    path = suite_time_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"command": "python -m bench.suite_time --python a --python b",
                                "commit": "c0ffee00", "runs": runs,
                                "cpu": {"model": "m", "vendor": "v", "flags": [], "cores": 2}}))
    text = suite_time_section(tmp_path)

    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| `")]
    assert [(row[0].split()[0], row[3], row[4], row[5]) for row in rows] == [
        ("`a`", "**500 s** (8:20)", "1000 s", "9 passed, 1 skipped"),
        ("`b`", "**450 s** (7:30)", "900 s", "9 passed, 1 skipped"),
        ("`a`", "**400 s** (6:40)", "800 s", "7 passed, 1 skipped, **2 failed**"),
        ("`b`", "**470 s** (7:50)", "940 s", "9 passed, 1 skipped"),
        ("`a`", "**60 s** (1:00)", "119 s", "no report (exit code 2)"),
    ]
    # 460 s against 500 s: the runs that failed are not timed against the others
    assert "`b`'s median is 0.92 times `a`'s (runs that passed)" in text
    assert "commit `c0ffee0`" in text


def test_the_suite_benchmark_reads_passed_failed_and_skipped_from_pytests_junit_report(tmp_path):
    """The counts docs/ci.md's table shows: each subtest counted as a test, as its header says."""
    from bench.suite_time import outcomes

    (tmp_path / "test_four.py").write_text(
        "import pytest\n\n"
        "def test_passes():\n    pass\n\n"
        "def test_fails():\n    assert False\n\n"
        "@pytest.mark.skip(reason='shown')\ndef test_skipped():\n    pass\n\n"
        "def test_two_subtests(subtests):\n"
        "    for n in (1, 2):\n        with subtests.test(n=n):\n            assert n\n"
    )
    junit = tmp_path / "junit.xml"
    run_in(tmp_path, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           f"--junitxml={junit}", "test_four.py", check=False, env={"PYTEST_ADDOPTS": ""})

    assert outcomes(junit) == {"tests": 6, "failed": 1, "skipped": 1}
