"""``python -m core.train``: train a checkpoint from the command line (see core/train/loop.py)."""

import sys

from core.train.loop import main

sys.exit(main())
