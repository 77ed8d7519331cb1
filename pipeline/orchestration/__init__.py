"""Prefect around the DVC pipeline: the server and the automations that find lost runs (server,
watch), the flows built from dvc.yaml (flows), work sent to a pool's workers (sets) and waited
for (dispatch), grids of parameter sets (grid), and the deployments: workers, the scheduled audit
(deploy). No stage imports this package; Prefect loads the set flow on any worker by module path,
`pipeline.orchestration.sets.compute_set`.
"""
