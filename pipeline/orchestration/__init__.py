"""Prefect around the DVC pipeline: the server (server), the flows built from dvc.yaml (flows),
and their deployments: workers, the scheduled audit (deploy).

Layering: server imports core only; flows imports server, core, runtime and tools.verify; deploy imports
flows and server. Prefect loads the train flow by path: `pipeline/orchestration/flows.py:train_stage`.
Imported by pipeline.cli only; no stage imports it.
"""
