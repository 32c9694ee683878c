"""The few named exceptions raised at entry points; the UI and CLI show their message in one line."""


class LatentExplorerError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(LatentExplorerError, ValueError):
    """A configuration value or key is invalid."""


class DatasetError(LatentExplorerError):
    """A dataset is unknown, missing or malformed."""


class CheckpointError(LatentExplorerError):
    """A checkpoint folder is missing, corrupt or does not match its config."""


def check(ok: bool, name: str, rule: str, value) -> None:
    """Raise ConfigError("NAME must be RULE, got VALUE") unless ok: the one wording of every parameter check."""
    if not ok:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."  # a value from a file can be any size: one line
        raise ConfigError(f"{name} must be {rule}, got {shown}")
