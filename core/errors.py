"""The few named exceptions raised at entry points; the UI and CLI show their message in one line."""


class LatentExplorerError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(LatentExplorerError, ValueError):
    """A configuration value or key is invalid."""


class DatasetError(LatentExplorerError):
    """A dataset is unknown, missing or malformed."""


class CheckpointError(LatentExplorerError):
    """A checkpoint folder is missing, corrupt or does not match its config."""


class StorageError(LatentExplorerError, OSError):
    """A file could not be written (full disk, quota, read-only or forbidden folder); the old file is kept.

    An OSError too, so code that already goes on without a cache file on any OSError still does."""

    def __init__(self, message: str, reason: str = "", errno: int | None = None):
        super().__init__(message)
        self.reason = reason or message  # a few words ("no space left on device (1.2 MB free)") for a caller's line
        self.errno = errno


def check(ok: bool, name: str, rule: str, value) -> None:
    """Raise ConfigError("NAME must be RULE, got VALUE") unless ok: the one wording of every parameter check."""
    if not ok:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."  # a value from a file can be any size: one line
        raise ConfigError(f"{name} must be {rule}, got {shown}")


def is_int(v) -> bool:
    """Whether v is an integer (Python or numpy), not a bool."""
    import numpy as np

    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def is_number(v) -> bool:
    """Whether v is a finite real number (Python or numpy), not a bool, and not an integer too large for a float."""
    import math

    import numpy as np

    if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # a 401-digit integer, as a tampered client or a crafted file can send
        return False


def check_int(v, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """``v`` as an int, or ConfigError("NAME must be an integer in LO..HI, got V") (or ">= LO", "<= HI")."""
    if lo is not None and hi is not None:
        rule = f"an integer in {lo}..{hi}"
    else:
        rule = "an integer" + (f" >= {lo}" if lo is not None else f" <= {hi}" if hi is not None else "")
    ok = is_int(v) and (lo is None or v >= lo) and (hi is None or v <= hi)
    check(ok, name, rule, v)
    return int(v)


def check_array(a, name: str, ndim: int = 2, *, cols: int | None = None, min_rows: int = 1, finite: bool = False):
    """``a`` as a float64 array of ``ndim`` dimensions (2: "a non-empty (N, D) array") with at least ``min_rows``
    rows, ``cols`` columns when given and, if ``finite``, no NaN or Inf; else ConfigError in ``check``'s words."""
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    if ndim == 1:
        check(a.ndim == 1, name, "a 1-D latent vector", a.shape)
    else:
        rule = "a non-empty (N, D) array" if min_rows <= 1 else f"an (N, D) array with N >= {min_rows}"
        check(a.ndim == 2 and len(a) >= min_rows and a.shape[1] > 0, name, rule, a.shape)
        check(cols is None or a.shape[1] == cols, name, f"(N, {cols})", a.shape)
    if finite:
        check(bool(np.isfinite(a).all()), name, "finite", "NaN or Inf")
    return a
