"""`python -m eval ...`: the evaluation runner (see eval/run.py and eval/README.md). Nothing else."""

import sys

from eval.run import main

sys.exit(main())
