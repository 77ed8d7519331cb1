"""The documentation generator: every generated block of README.md and docs/*.md, rendered from
what the benchmarks wrote (bench/results/) and from committed files. No figure in those files is
typed by hand where a command can write it. It reads results; it measures nothing and imports no
benchmark (tests/test_layout.py).

A block sits between `<!-- NAME:begin -->` and `<!-- NAME:end -->`; everything between the two
markers is rewritten. The blocks and what each is rendered from:

    glance, setup-cost   README: metrics/, the model cards, dvc.lock, the current seeds run
    seeds, levers        docs/benchmarks.md: bench/results/seeds/ (python -m bench.seeds)
    results              docs/benchmarks.md: bench/results/latest.json (python -m bench.run,
                         i.e. `make bench`; that file stays on the machine that measured it)
    grid-cost            docs/benchmarks.md: bench/results/grid_cost-*.json
                         (python -m bench.grid_cost)
    profile              docs/reproducibility.md: params.yaml and presets/fast.yaml
    onnx-metadata        docs/model.md: the committed model card (the ONNX file's metadata)
    architecture, tune   docs/design.md: LeNet-5 built from params.yaml; tune/dvc.lock,
                         reports/tune/
    commands             docs/pipeline.md: `lenet`'s commands, from pipeline.cli

    python -m docgen          # rewrite every block (results: where latest.json is)
    python -m docgen --check  # exit 1 naming the blocks that differ (tests/test_docs.py)

`make bench` runs it after measuring; `make bench-seeds` rewrites the blocks too.

Modules, lowest first: markdown (table and number formatting), params_history (an older
params.yaml in today's shape), results (the results files, and which seeds run describes
params.yaml), targets (the benchmark's targets and verdicts), blocks (one renderer per block),
writer (finds the marked blocks and rewrites them), __main__ (the command).
"""
