"""What the numbers depend on beyond params.yaml, and what was in force when they were made.

    profile   the reproducibility profile: environment pinned before TensorFlow loads, seeding
    machine   the machine's facts (CPU, device, versions), written to reports/runtime/
    noise     a stderr filter for TensorFlow's C++ notices

Imported by the stages, pipeline.command and orchestration.flows; imports only core.
"""
