"""Maps: latents to a 2-D/3-D map and back (``projection``: the fitted map and out-of-sample placement;
``inverse``: map position -> latent), a checkpoint's cached map of a dataset (``mapdata``), and a folder of
core.encode's Parquet shards as a view of its checkpoint (``parquet_view``).
"""

from core.lazy import exports

_TABLE = {
    "Projector": "projection",
    "KernelInverse": "inverse",
    **dict.fromkeys(["MapData", "map_dataset", "home_dataset"], "mapdata"),
    **dict.fromkeys(["ParquetView", "read_view", "view_map"], "parquet_view"),
}
__all__ = sorted(_TABLE)
__getattr__ = exports(__name__, _TABLE)
