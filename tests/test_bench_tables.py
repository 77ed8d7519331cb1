"""The README tables the benchmarks generate: which seeds run is "the current one"."""

import json

from bench import readme_table
from tests.synthetic import run_in


def test_current_seed_run_is_the_latest_commits_not_the_last_file_name(tmp_path):
    run_in(tmp_path, "git", "init", "-q", "-b", "main")
    (tmp_path / "params.yaml").write_text("seed: 42\n")
    sha = readme_table.params_sha256(tmp_path)
    folder = tmp_path / readme_table.SEEDS_RESULTS
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

    assert readme_table.current_seed_run(tmp_path)["commit"] == commits[1]
    assert [run["commit"] for run in readme_table.seed_runs(tmp_path)] == commits
    assert "mean of 5 seeds" in readme_table.seed_spread(tmp_path)["mnist"]

