"""The few named exceptions raised at entry points; the UI and CLI show their message in one line."""


class LatentExplorerError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(LatentExplorerError, ValueError):
    """A configuration value or key is invalid."""


class DatasetError(LatentExplorerError):
    """A dataset is unknown, missing or malformed."""


class CheckpointError(LatentExplorerError):
    """A checkpoint folder is missing, corrupt or does not match its config."""
