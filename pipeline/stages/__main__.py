"""`python -m pipeline.stages <stage> --dataset NAME`: what dvc.yaml runs. It imports the stage
registry only, so a stage's dvc.yaml deps hold no tool, report or Prefect code."""

import sys

from pipeline.stages.commands import main

sys.exit(main())
