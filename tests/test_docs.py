"""The README and docs/ stay true: every make target, `lenet` command and option, and params.yaml
key they show exists, and every `lenet` example parses with the CLI's own parser; every relative
link resolves; every generated block is what its generator (`python -m docgen`) writes from the
committed files; the README stays short, with the two set-up commands and no commit hashes in its
prose; its prerequisites are what the lock files and `make test` need; the comments of the
configuration files point to documents that exist in the repository; the make defaults are the
ones the docs show.

Unit tier: reads files and builds `lenet`'s parser in-process; no DVC repository, server or
browser. The architecture block builds the Keras model (no training).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import itertools
import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from docgen import blocks, writer
from pipeline.cli import parser as lenet_parser
from pipeline.core import workspace

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_LINES = 250
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SEPARATORS = re.compile(r"&&|\|\||;|\$\(|\)|\|")
PARAMS_ROOTS = ("datasets", "download", "validation", "preprocess", "model", "train",
                "reproducibility", "evaluate", "report", "tune")
PARAMS_KEY = re.compile(rf"^(?:{'|'.join(PARAMS_ROOTS)})\.[\w<>.]+")
FILE_SUFFIXES = ("keras", "onnx", "json", "html", "md", "yaml", "npz", "png", "csv")
COMMIT = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


def docs() -> list[Path]:
    return writer.doc_files(ROOT)


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT))


def without_generated(text: str) -> str:
    """The hand-written part: generated blocks quote old settings and commits on purpose."""
    return writer.BLOCK.sub("", text)


def code_of(text: str) -> list[str]:
    """Every shell line a reader may copy: fenced blocks' lines (comments cut) and inline spans."""
    text = without_generated(text)
    lines = []
    for block in FENCE.findall(text):
        for line in block.splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            if line:
                lines.append(line)
    lines += INLINE.findall(FENCE.sub("", text))
    return lines


def commands(text: str) -> list[list[str]]:
    """The simple commands in a document's code, as word lists (brackets of optional parts cut)."""
    found = []
    for line in code_of(text):
        for part in SEPARATORS.split(line):
            try:
                words = shlex.split(part)
            except ValueError:
                words = part.split()
            words = [w.strip("[]") for w in words if w.strip("[]")]
            if words:
                found.append(words)
    return found


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, re.MULTILINE)}


def make_calls(words: list[str]) -> list[str]:
    """The targets of `[VAR=value ...] make [VAR=value | target ...]`."""
    rest = list(words)
    while rest and re.fullmatch(r"[A-Z_]+=.*", rest[0]):
        rest.pop(0)
    if not rest or rest[0] != "make":
        return []
    return [w for w in rest[1:] if "=" not in w and not w.startswith("-")]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def lenet_problems(words: list[str], commands_: dict[str, argparse.ArgumentParser]) -> list[str]:
    """What `lenet ...` names that the CLI lacks: the command, a positional choice, an option."""
    if "lenet" not in words:
        return []
    rest = words[words.index("lenet") + 1:]
    if not rest or rest[0].startswith("-") or not re.fullmatch(r"[a-z][\w-]*", rest[0]):
        return []  # `lenet --help`, `lenet COMMAND`, `lenet <stage>`
    name, rest = rest[0], rest[1:]
    if name not in commands_:
        return [f"no command `lenet {name}`"]
    sub = commands_[name]
    problems = []
    choices = [a.choices for a in sub._actions if not a.option_strings and a.choices]
    if choices and rest and rest[0] not in choices[0] and not rest[0].startswith("-"):
        problems.append(f"`lenet {name} {rest[0]}`: expected one of {sorted(choices[0])}")
    for word in rest:
        if word == "--":
            break
        option = word.split("=")[0]
        if re.fullmatch(r"--?[A-Za-z][\w-]*", option) and option not in sub._option_string_actions:
            problems.append(f"`lenet {name}` has no option {option}")
    return problems


def settings_named(words: list[str]) -> list[str]:
    """params.yaml keys set in a command: `-S KEY=VALUE`, `--set KEY=VALUE`, `SET="KEY=VALUE
    ..."`."""
    keys = []
    for flag, value in itertools.pairwise(words):
        if flag in ("-S", "--set") and "=" in value:
            keys.append(value.split("=")[0])
    for word in words:
        if word.startswith("SET="):
            keys += [setting.split("=")[0] for setting in word[4:].split() if "=" in setting]
    return [key for key in keys if not key.isupper()]  # KEY: a placeholder


def params_has(key: str) -> bool:
    """Whether params.yaml has `key` (dotted; <ds> and <name> stand for any dataset)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    candidates = [key]
    if re.search(r"<[a-z]+>", key):
        candidates = [re.sub(r"<[a-z]+>", name, key) for name in params["datasets"]]
    for candidate in candidates:
        node = params
        for part in candidate.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
    return True


@pytest.mark.parametrize("path", docs(), ids=shown)
def test_the_make_targets_the_docs_name_exist(path):
    targets = make_targets()
    missing = sorted(
        {t for words in commands(path.read_text()) for t in make_calls(words)} - targets
    )
    assert not missing, f"{shown(path)} names make targets the Makefile lacks: {missing}"


@pytest.mark.parametrize("path", docs(), ids=shown)
def test_the_lenet_commands_and_options_the_docs_name_exist(path):
    commands_ = subparsers(lenet_parser())
    problems = sorted(
        {p for words in commands(path.read_text()) for p in lenet_problems(words, commands_)}
    )
    assert not problems, f"{shown(path)}: " + "; ".join(problems)


@pytest.mark.parametrize("path", docs(), ids=shown)
def test_the_params_keys_the_docs_name_exist(path):
    text = path.read_text()
    keys = {key for words in commands(text) for key in settings_named(words)}
    keys |= {m.group(0).rstrip(".") for span in code_of(text) if (m := PARAMS_KEY.match(span))
             and not m.group(0).endswith(tuple(f".{suffix}" for suffix in FILE_SUFFIXES))}
    missing = sorted(key for key in keys if not params_has(key))
    assert not missing, f"{shown(path)} names keys params.yaml lacks: {missing}"


def lenet_examples(text: str) -> list[list[str]]:
    """Every `lenet ...` command a document shows, as the arguments after `lenet`: each one in a
    fenced block, and each inline one with arguments (a bare `lenet predict` in prose names the
    command); generated blocks and placeholder commands (`lenet <stage>`, `lenet COMMAND`) left
    out."""
    text = without_generated(text)
    blocks = "\n".join(f"```\n{block}```" for block in FENCE.findall(text))
    inline = "\n".join(f"`{span}`" for span in INLINE.findall(FENCE.sub("", text)))
    found = []
    for source, least in ((blocks, 2), (inline, 3)):
        for words in commands(source):
            words = words[:-1] if words[-1] == "&" else words  # run in the background
            if words[0] != "lenet" or len(words) < least:
                continue
            if words[1].startswith("-") or re.fullmatch(r"[a-z][\w-]*", words[1]):
                found.append(words[1:])
    return found


@pytest.mark.parametrize("path", docs(), ids=shown)
def test_every_lenet_example_in_the_docs_parses_with_the_cli(path):
    """Each example run through `lenet`'s own argparse parser: a command, its positional
    arguments, option values of the right type and choices, required options given."""
    parser = lenet_parser()
    refused = []
    for args in lenet_examples(path.read_text()):
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                parser.parse_args(args)
        except SystemExit as stop:
            if stop.code:
                refused.append(
                    f"`lenet {shlex.join(args)}`: {errors.getvalue().strip().splitlines()[-1]}"
                )
    assert not refused, f"{shown(path)}: " + "; ".join(refused)


def test_the_docs_show_lenet_examples_to_parse():
    assert len([a for path in docs() for a in lenet_examples(path.read_text())]) > 30


def lower_bound(requirement: str) -> int:
    """The lowest major version a semver range like `>=20`, `6.* || 8.* || >= 10.*` allows."""
    return min(int(re.search(r"\d+", part)[0]) for part in requirement.split("||"))


def test_the_readmes_node_version_is_what_the_lock_files_need():
    """The highest `engines.node` lower bound of any package npm installs (`lenet assets`,
    `make lint`) is the version the README asks for."""
    needed = {}
    for lock in ROOT.glob("tools/*/package-lock.json"):
        for name, package in json.loads(lock.read_text())["packages"].items():
            if "node" in package.get("engines", {}):
                needed[f"{lock.parent.name}: {name}"] = lower_bound(package["engines"]["node"])
    asked = re.search(r"Node\.js (\d+) or later", README.read_text())
    assert asked, "the README names no Node.js version"
    assert int(asked[1]) == max(needed.values()), sorted(needed.items(), key=lambda kv: -kv[1])[:3]


def test_the_readmes_python_version_is_what_pyproject_and_the_workflows_use():
    allowed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert allowed == ">=3.11,<3.12"
    assert "**Python 3.11**" in README.read_text()
    install = yaml.safe_load((ROOT / ".github/actions/install/action.yml").read_text())
    versions = {step["with"]["python-version"] for step in install["runs"]["steps"]
                if step.get("uses", "").startswith("actions/setup-python@")}
    assert versions == {"3.11"}


def test_the_readmes_prerequisites_name_every_package_make_test_installs():
    """`make test` installs Debian packages through its prerequisite targets (as root): the README's
    quick start names each, and the command to install them."""
    makefile = (ROOT / "Makefile").read_text()
    test_deps = re.search(r"^test:([^#\n]*)", makefile, re.MULTILINE)[1].split()
    packages = set()
    for target in test_deps:
        recipe = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
        if recipe:
            packages |= set(re.findall(r"apt-get install -y -qq (\S+)", recipe[1]))
    assert packages >= {"chromium", "postgresql"}
    quick_start = README.read_text().split("## Quick start", 1)[1].split("```", 1)[0]
    assert all(f"`{package}`" in quick_start for package in packages), packages
    assert f"sudo apt-get install {' '.join(sorted(packages))}" in quick_start


CONFIG_FILES = (
    "params.yaml",
    ".gitignore",
    "pyproject.toml",
    "Makefile",
    "dvc.yaml",
    "prefect.toml",
)
DOC_REFERENCE = re.compile(r"\b(README(?:\.md)?|docs/[\w-]+\.md)(?:#([\w-]+))?(?:'s \"([^\"]+)\")?")


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_the_configuration_files_point_to_documents_that_exist(name):
    """A comment that sends the reader to the docs names a file (and a heading) of this
    repository: not a section that is gone, not a file beside the checkout."""
    text = (ROOT / name).read_text()
    assert not re.findall(r"\.\./[\w.-]+\.md", text), "a document outside the repository"
    broken = []
    for document, anchor, heading in DOC_REFERENCE.findall(text):
        path = ROOT / (document if document.endswith(".md") else "README.md")
        if document == "README":
            broken.append("`README`: name README.md and the section, or the docs/ page")
        elif not path.is_file() or (anchor and anchor not in heading_anchors(path)) or (
                heading and heading_anchors_of(heading) not in heading_anchors(path)):
            broken.append(f"{document} {anchor or heading}".strip())
    assert not broken, f"{name}: {broken}"


def heading_anchors_of(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def make_dry(*args: str) -> str:
    return subprocess.run(["make", "-n", *args, "STAMP=/dev/null"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def test_the_make_defaults_are_the_ones_the_docs_show():
    """`make worker` serves pool cpu, as every example; `make grid` adds seeds only when SEEDS is
    given (SET="k=a,b" alone is 2 sets, not 5 x 2); `make bench-seeds` runs 5 seeds."""
    assert "lenet worker --pool cpu" in make_dry("worker")
    assert "--seeds" not in make_dry("grid", "SET=train.learning_rate=0.002,0.004")
    assert "lenet grid --seeds 5 " in make_dry("grid", "SEEDS=5")
    assert "python -m bench.seeds --seeds 5 " in make_dry("bench-seeds")
    assert "make bench-seeds   # test accuracy over 5 seeds" in README.read_text()


def test_the_readmes_run_time_is_one_docs_benchmarks_md_shows():
    """The quick start's time comes from a measurement that docs/benchmarks.md shows too."""
    setup = re.search(r"<!-- setup-cost:begin -->(.*?)<!-- setup-cost:end -->", README.read_text(),
                      re.DOTALL)[1]
    times = re.findall(r"\d+\.\d+ min", setup)
    assert times and "is named there" not in setup
    benchmarks = (ROOT / "docs" / "benchmarks.md").read_text()
    assert all(time in benchmarks for time in times), times


def test_the_tuning_tables_today_column_names_keys_params_yaml_has():
    block = re.search(r"<!-- tune:begin -->(.*?)<!-- tune:end -->",
                      (ROOT / "docs" / "design.md").read_text(), re.DOTALL)[1]
    missing = []
    for row in re.findall(r"^\| `([^`]+)` \| [^|]+ \| ([^|]+) \|", block, re.MULTILINE):
        key, today = row
        named = re.search(r" as `([^`]+)`", today)
        if "no such key" not in today and not params_has(named[1] if named else key):
            missing.append(named[1] if named else key)
    assert not missing, missing


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors for a markdown file's headings."""
    headings = re.findall(r"^#+\s+(.*)$", FENCE.sub("", path.read_text()), re.MULTILINE)
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings
    }


@pytest.mark.parametrize("path", docs(), ids=shown)
def test_relative_links_point_to_files_and_headings_that_exist(path):
    broken = []
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        if path == README and target.startswith("../../actions/workflows/"):
            # GitHub's pages of this repository (the badge): the workflow must exist.
            workflow = target.split("/")[4]
            if not (ROOT / ".github" / "workflows" / workflow).is_file():
                broken.append(target)
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists() or (anchor and linked.suffix == ".md"
                                   and anchor not in heading_anchors(linked)):
            broken.append(target)
    assert not broken, f"{shown(path)}: broken links {broken}"


def test_every_docs_page_links_back_to_the_readme():
    assert [
        shown(p) for p in docs() if p != README and "](../README.md)" not in p.read_text()
    ] == []


def test_the_readme_is_short_and_names_no_commits_in_its_prose():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    assert COMMIT.findall(without_generated(text)) == []


def test_the_readme_sets_up_with_exactly_make_repro_and_make_test():
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    first_block = FENCE.search(quick_start).group(1)
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in first_block.splitlines()]
    assert [line for line in lines if line] == ["make repro", "make test"]


def test_every_generated_block_is_in_the_docs():
    found = {m.group(1) for path in docs() for m in writer.BLOCK.finditer(path.read_text())}
    assert set(blocks.COMMITTED) | {"results"} <= found


def test_every_generated_block_is_what_its_generator_writes():
    shallow = workspace.run("git", "rev-parse", "--is-shallow-repository", cwd=ROOT).stdout.strip()
    if shallow == "true":
        pytest.skip("the seeds runs are ordered by their commits' dates: needs the full history")
    stale = writer.stale_blocks(ROOT)
    report = [f"{shown(path)}: block {name} differs from its generator "
              f"(`python -m docgen` rewrites it):\n"
              + "\n".join(difflib.unified_diff(written.splitlines(), generated.splitlines(),
                                               "written", "generated", lineterm=""))
              for path, name, written, generated in stale]
    assert not report, "\n\n".join(report)
