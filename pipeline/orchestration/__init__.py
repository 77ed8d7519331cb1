"""Prefect around the DVC pipeline: the server (server), the flows built from dvc.yaml (flows),
work sent to a pool's workers (sets), grids of parameter sets (grid), and the deployments:
workers, the scheduled audit (deploy).

Layering: server imports core only; sets imports core and runtime; flows imports sets, server,
core, runtime and tools.verify; grid imports sets and core; deploy imports flows and sets.
Prefect loads the set flow by module path on any worker: `pipeline.orchestration.sets.compute_set`.
Imported by pipeline.cli (and bench/) only; no stage imports it.
"""
