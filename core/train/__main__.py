"""``python -m core.train``: train a checkpoint from the command line (see core/train/loop.py)."""

import sys

from core.train.loop import main

if __name__ == "__main__":  # importing the module (tests/test_imports walks every core module) trains nothing
    sys.exit(main())
