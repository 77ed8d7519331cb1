"""`lenet grid`'s sets, before anything runs: the product of --seeds and every -S, checked against
params.yaml with the key or the set at fault named; what a worker is sent and what it leaves."""

from pathlib import Path

import pytest
import yaml

from pipeline.orchestration import sets
from pipeline.orchestration.grid import GridError, plan

PARAMS = (Path(__file__).resolve().parents[1] / "params.yaml").read_text()
SEED = yaml.safe_load(PARAMS)["seed"]  # the first seed of a grid; the next ones count up from it


def test_seeds_and_settings_make_the_cross_product_in_order():
    sets = plan(PARAMS, 2, ["train.learning_rate=0.002,0.004"], "g", "c0ffee")
    assert [s.name for s in sets] == ["g-1", "g-2", "g-3", "g-4"]
    first, second = f"seed={SEED}", f"seed={SEED + 1}"
    assert [s.overrides for s in sets] == [
        (first, "train.learning_rate=0.002"), (first, "train.learning_rate=0.004"),
        (second, "train.learning_rate=0.002"), (second, "train.learning_rate=0.004")]


def test_the_default_name_is_the_same_for_the_same_grid_and_differs_for_another():
    one = plan(PARAMS, 3, [], None, "c0ffee")[0].name
    assert one == plan(PARAMS, 3, [], None, "c0ffee")[0].name and one.startswith("grid-")
    assert one != plan(PARAMS, 3, [], None, "beef")[0].name  # another commit
    other_seed = PARAMS.replace(f"\nseed: {SEED}", f"\nseed: {SEED + 7}", 1)
    assert other_seed != PARAMS
    assert one != plan(other_seed, 3, [], None, "c0ffee")[0].name


def test_commas_inside_brackets_belong_to_the_value():
    sets = plan(PARAMS, None, ["model.batch_norm=[F5,F6],[]"], "g", "c0ffee")
    assert [s.overrides for s in sets] == [("model.batch_norm=[F5,F6]",), ("model.batch_norm=[]",)]


@pytest.mark.parametrize(("seeds", "settings", "message"), [
    (None, [], "nothing to run"),
    (0, [], "--seeds 0"),
    (None, ["train.lr=0.1"], "params.yaml has no key 'train.lr'"),
    (None, ["momentum=0.5"], "did you mean train.momentum?"),
    (None, ["train.learning_rate"], "expected key=value"),
    (2, ["seed=1,2"], "give one"),
    (None, ["train.learning_rate=0.002,-1"], "set g-2 (train.learning_rate=-1)"),
    (None, ["train.learning_rate=[0.1"], "not a YAML value"),
])
def test_a_bad_grid_is_refused_naming_what_is_wrong(seeds, settings, message):
    with pytest.raises(GridError) as refused:
        plan(PARAMS, seeds, settings, "g", "c0ffee")
    assert message in str(refused.value)


@pytest.mark.parametrize(("url", "sent"), [
    ("https://user:token@github.com/org/lenet.git", "https://github.com/org/lenet.git"),
    ("https://x-access-token:t@host:8443/lenet.git", "https://host:8443/lenet.git"),
    ("s3://bucket/path", "s3://bucket/path"),
    ("git@github.com:org/lenet.git", "git@github.com:org/lenet.git"),
    ("/srv/git/lenet.git", "/srv/git/lenet.git"),
])
def test_no_credentials_in_a_url_reach_the_workers(url, sent):
    assert sets.without_credentials(url) == sent


def test_a_killed_workers_checkouts_are_removed_when_a_worker_starts(tmp_path, monkeypatch):
    import os
    import subprocess

    monkeypatch.setenv(sets.WORKER_CHECKOUTS, str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale, alive = tmp_path / f"set-{gone.pid}-abc", tmp_path / f"set-{os.getpid()}-def"
    stale.mkdir()
    alive.mkdir()
    assert sets.clean_stale_checkouts() == [stale]
    assert alive.exists() and not stale.exists()


# The two tests below make a DVC repository: the integration tier, though they start no server.

@pytest.mark.integration
def test_a_checkout_gets_the_workers_cache_and_the_coordinators_remote_in_its_local_config(
        tmp_path):
    """What `dvc cache dir --local` and `dvc remote add/modify --local` would write, as DVC reads
    it back; the committed .dvc/config untouched."""
    from dvc.repo import Repo

    Repo.init(str(tmp_path), no_scm=True)
    committed = (tmp_path / ".dvc" / "config").read_text()
    remote = {"name": "Shared", "url": "s3://bucket/path", "endpointurl": "http://127.0.0.1:9000"}
    sets.share_cache_and_remote(tmp_path, tmp_path / "cache", remote)
    with Repo(str(tmp_path)) as repo:
        assert repo.config["core"]["remote"] == "shared"
        shared = repo.config["remote"]["shared"]
        assert (shared["url"], shared["endpointurl"]) == ("s3://bucket/path",
                                                          "http://127.0.0.1:9000")
        assert Path(repo.config["cache"]["dir"]) == tmp_path / "cache"
    assert (tmp_path / ".dvc" / "config").read_text() == committed


@pytest.mark.integration
def test_a_worker_cache_named_from_home_is_the_folder_dvc_uses(tmp_path, monkeypatch):
    """LENET_WORKER_CACHE=~/cache: the folder the worker makes is the one the checkout's DVC reads
    (not a folder named `~` beside the worker)."""
    from dvc.config import Config
    from dvc.repo import Repo

    from pipeline.core import workspace

    project, worker, home = tmp_path / "project", tmp_path / "worker", tmp_path / "home"
    project.mkdir(), worker.mkdir(), home.mkdir()
    for command in (("git", "init", "-q", "-b", "main"), ("git", "config", "user.email", "t@x"),
                    ("git", "config", "user.name", "t")):
        workspace.run(*command, cwd=project)
    Repo.init(str(project))
    workspace.run("git", "add", "-A", cwd=project)
    workspace.run("git", "commit", "-q", "-m", "dvc", cwd=project)
    commit = workspace.run("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(sets.WORKER_CACHE, "~/cache")
    monkeypatch.setenv(sets.WORKER_CHECKOUTS, str(tmp_path / "sets"))
    monkeypatch.chdir(worker)
    origin = sets.Origin(str(project), commit, "seed: 42\n",
                         {"name": "shared", "url": str(tmp_path / "remote")})
    with sets.fresh_checkout(origin) as clone:
        used = Path(Config(dvc_dir=str(clone / ".dvc"))["cache"]["dir"])
    assert used == home / "cache" and used.is_dir()
    assert not (worker / "~").exists()
