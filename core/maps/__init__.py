"""Maps: latents to a 2-D/3-D map and back (``projection``: the fitted map and out-of-sample placement;
``inverse``: map position -> latent), and a checkpoint's cached map of a dataset (``mapdata``).
"""

from core.lazy import exports

_TABLE = {
    "Projector": "projection",
    "KernelInverse": "inverse",
    **dict.fromkeys(["MapData", "map_dataset", "home_dataset"], "mapdata"),
}
__all__ = sorted(_TABLE)
__getattr__ = exports(__name__, _TABLE)
