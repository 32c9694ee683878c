"""One content key for every derived result, atomic file writes, and the user cache folder.

A result (latents, a map, an evaluation, a Streamlit cache entry) is keyed by what it depends
on: array bytes, a file's SHA-256, a folder's (relative path, size, mtime) listing, a built-in
dataset's name and version, a checkpoint's weights hash, and the parameters. Change any input
and the key changes, so nothing stale is ever served. Imports neither torch nor streamlit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

# Latents of datasets other than a checkpoint's own go here, not into the (versioned) checkpoint folder.
USER_CACHE = Path(os.environ.get("LATENT_EXPLORER_CACHE", Path.home() / ".cache" / "latent-explorer"))
KEY_CHARS = 16  # hex digits of a key: 64 bits, plenty for one user's caches
# The one rule for a name that becomes a folder or a file-name part: never a path, never hidden, never odd bytes.
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_safe_name(name: object) -> bool:
    """Whether ``name`` obeys NAME_RULE: 1-64 ASCII letters, digits, '.', '_' or '-', led by a letter or digit."""
    return isinstance(name, str) and NAME_RULE.fullmatch(name) is not None


def safe_name(text: str, max_len: int = 64) -> str:
    """``text`` as a file-name part: every character outside NAME_RULE's ('.', '_', '-', ASCII letters and digits)
    becomes '-', cut to ``max_len``."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", text)[:max_len]


def content_key(kind: str, version: int, **inputs) -> str:
    """A short hex key of ``kind``, its format ``version`` and every named input (order-free).

    Inputs may be arrays or tensors (their dtype, shape and bytes are hashed), bytes, or any
    JSON value (str, number, bool, None, and lists / dicts of them).
    """
    h = hashlib.sha256(json.dumps([kind, version]).encode())
    for name in sorted(inputs):
        h.update(b"\0" + name.encode() + b"\0")
        h.update(_digest(inputs[name]))
    return h.hexdigest()[:KEY_CHARS]


def _digest(value) -> bytes:
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        head = json.dumps([str(a.dtype), list(a.shape)]).encode()
        return hashlib.sha256(head + a.tobytes()).digest()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return hashlib.sha256(bytes(value)).digest()
    if isinstance(value, os.PathLike):
        raise TypeError("content_key: hash a file by file_sha256() or folder_listing(), not by its path")
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=_json_scalar).encode()).digest()


def _json_scalar(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"content_key cannot hash a {type(v).__name__}")


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


MAX_LISTED = 500_000  # files in one listing: a bigger folder is refused, not walked to the end


def folder_listing(path: str | os.PathLike, max_files: int = MAX_LISTED) -> list[tuple[str, int, int]]:
    """Sorted (relative path, size, mtime in ns) of every file under a folder: changes when any file does.

    Symlinks are not followed (os.walk's default), so the walk stays inside the folder.
    """
    from core.errors import DatasetError

    root = Path(path)
    out = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            try:
                st = p.stat(follow_symlinks=False)
            except OSError:
                continue
            out.append((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
            if len(out) > max_files:
                raise DatasetError(f"folder {root} holds more than {max_files:,} files: too many to read")
    return sorted(out)


def file_stamp(path: str | os.PathLike) -> tuple[int, int]:
    """(size, mtime in ns) of a file: a cheap test of "changed since", not a content hash."""
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a mix."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600: a cache file should be as readable as any file
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
