"""Data: datasets by name or path (``datasets``), one image from a user (``images``), the Train page's uploads
(``uploads``), where a visitor's paths may point (``paths``) and the drawn colour faces (``faces``). Names are
re-exported lazily. Named per-image attributes (``attributes``) and CelebA (``celeba``) live beside them.
"""

from core.lazy import exports

_TABLE = {
    **dict.fromkeys(["Dataset", "load_dataset", "list_datasets", "stratified_split", "dataset_key"], "datasets"),
    **dict.fromkeys(["prepare_image", "Prepared"], "images"),
    **dict.fromkeys(["FaceFactors", "FACTORS", "sample_factors", "draw_face", "load_faces"], "faces"),
    **dict.fromkeys(["Attribute", "parse_filter", "summarise"], "attributes"),
}
__all__ = sorted(_TABLE)
__getattr__ = exports(__name__, _TABLE)
