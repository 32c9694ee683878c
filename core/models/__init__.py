"""Models and checkpoints: the AE, DAE and VAE (``autoencoders``), their config, the checkpoint folder, a user's
ONNX pair behind the same interface, and inference over a dataset (``inference``: the one scorer).

Read ``autoencoders.py`` top to bottom first. Names are re-exported lazily, so ``config`` and ``checkpoints``
stay torch-free when imported alone.
"""

from core.lazy import exports

_TABLE = {
    **dict.fromkeys(["ModelConfig", "ExternalModelConfig", "KINDS", "LIKELIHOODS", "NOISES"], "config"),
    **dict.fromkeys(
        [
            "Autoencoder",
            "DenoisingAutoencoder",
            "VariationalAutoencoder",
            "Posterior",
            "PixelDist",
            "LossParts",
            "build_model",
            "corrupt",
        ],
        "autoencoders",
    ),
    **dict.fromkeys(
        ["Checkpoint", "open_checkpoint", "load_checkpoint", "save_checkpoint", "list_checkpoints"], "checkpoints"
    ),
    **dict.fromkeys(
        [
            "EncodedSet",
            "encode_dataset",
            "decode",
            "decode_means",
            "encode_means",
            "reconstruct",
            "sample_image",
            "prior_latent",
            "samples_csv",
        ],
        "inference",
    ),
}
__all__ = sorted(_TABLE)
__getattr__ = exports(__name__, _TABLE)
