"""Training: the loop (``loop``: ``TrainConfig``, ``train``; ``python -m core.train``), the one progress line
the CLI prints and the Train page plots (``progress``), and the queue of training jobs that outlives a browser
tab (``jobs``; ``python -m core.train.jobs``). Names are re-exported lazily.
"""

from core.lazy import exports

_TABLE = dict.fromkeys(["TrainConfig", "TrainResult", "train", "main"], "loop")
__all__ = sorted(_TABLE)
__getattr__ = exports(__name__, _TABLE)
