"""A visitor's uploaded dataset (a .zip of class folders, or an .npz), checked and unpacked into the user cache.

Every member of a zip (and of an .npz, itself a zip) is checked before anything is decompressed or written:
no two members may share bytes (a directory naming one member many times is a bomb), at most MAX_FILES files
(NPZ_MAX_ARRAYS arrays) and MAX_BYTES unpacked, each member read no further than the size its header declares.
A zip's members must be PNG or JPEG images (recognised by content, core.data.images) of at most MAX_SIDE pixels a
side, with no absolute path, no '..', no link, no encryption, expanding at most MAX_RATIO-fold. Each refusal is
one line, and so is a failure to store the upload (a full disk: core.errors.StorageError). The result is named
by the upload's SHA-256, so the same file is unpacked once, and core.data.datasets reads it as ``folder:PATH``
or ``npz:PATH``; the visitor's file name is kept beside it (``PATH.name.json``) so the app can show that name, not the
hash. Imports neither streamlit nor (until used) torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core import cache
from core.data.paths import DataSpec
from core.errors import DatasetError, StorageError

MAX_BYTES = 200 * 1024**2  # unpacked size of one upload
MAX_FILES = 20_000
MAX_SIDE = 1024  # pixels a side: the models take at most 64
MAX_RATIO = 100  # PNG and JPEG are compressed already: a member that deflates 100-fold is not one
NPZ_MAX_ARRAYS = 16  # an .npz holds x and y; a few more arrays are ignored, thousands are refused unread
MIN_IMAGES = 20  # fewer cannot be split into training and test images and mapped
IMAGE_FORMATS = ("PNG", "JPEG")
SKIPPED = ("__MACOSX",)  # folders archivers add beside the data
NAME_SUFFIX = ".name.json"  # beside (never inside) the unpacked folder: the dataset reader sees only images
NAME_MAX_BYTES = 4096
STORED = re.compile(r"(zip-[0-9a-f]+|npz-[0-9a-f]+\.npz)")  # what unpack_upload names its results


@dataclass(frozen=True)
class Unpacked:
    """An upload ready for core.data.datasets: its dataset spec, where it lies, what it holds."""

    spec: str  # "folder:/…" or "npz:/…"
    path: Path
    classes: list[str]
    images: int
    reused: bool  # the same upload was unpacked before


def uploads_dir() -> Path:
    return cache.USER_CACHE / "uploads"


def unpack_upload(data: bytes, filename: str, dest: str | os.PathLike | None = None) -> Unpacked:
    """Check and store an uploaded .zip (one folder per class) or .npz; DatasetError in one line if refused."""
    dest = Path(dest) if dest is not None else uploads_dir()
    if len(data) > MAX_BYTES:
        raise DatasetError(f"upload refused: the file is {_mb(len(data))}, over the {_mb(MAX_BYTES)} limit")
    digest = hashlib.sha256(data).hexdigest()[: cache.KEY_CHARS]
    suffix = Path(filename).suffix.lower()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise cache.storage_error("the upload", e, dest) from e
    if suffix == ".npz":
        return _named(_store_npz(data, dest / f"npz-{digest}.npz"), filename)
    if suffix == ".zip":
        return _named(_store_zip(data, dest / f"zip-{digest}"), filename)
    raise DatasetError(f"upload refused: {filename[:60]!r} is neither a .zip of class folders nor an .npz file")


def _named(result: Unpacked, filename: str) -> Unpacked:
    """Record the visitor's file name beside ``result`` (the latest name of the same bytes wins)."""
    name = Path(filename).name[:200]
    if upload_name(result.spec) != name:
        sidecar = result.path.with_name(result.path.name + NAME_SUFFIX)
        cache.atomic_write_bytes(sidecar, json.dumps({"name": name}).encode(), "the upload's name")
    return result


def upload_name(spec: str) -> str | None:
    """The file name a visitor uploaded the dataset ``spec`` as (``colour64.zip``), or None for a dataset that is
    no upload or whose name was not recorded or cannot be read."""
    path = Path(spec.partition(":")[2])
    if not spec.startswith(("folder:", "npz:")) or STORED.fullmatch(path.name) is None:
        return None
    try:
        with open(path.with_name(path.name + NAME_SUFFIX), "rb") as f:
            name = json.loads(f.read(NAME_MAX_BYTES + 1)).get("name")
    except (OSError, ValueError, AttributeError):  # missing, unreadable, cut, not JSON, not an object
        return None
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        return None
    return "".join(c if c.isprintable() else "?" for c in name)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _store_npz(data: bytes, path: Path) -> Unpacked:
    reused = path.is_file()
    if not reused:
        _check_npz_layout(data)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            cache.atomic_write_bytes(tmp, data, "the upload")
            _checked(DataSpec("npz", str(tmp)).spec)  # the npz reader of core.data.datasets: headers, sizes, labels
            os.replace(tmp, path)
        except DatasetError as e:
            why = str(e).replace(str(tmp), "the upload").replace(tmp.name, "the upload")
            raise DatasetError(f"upload refused: {why}") from None
        except OSError as e:  # StorageError from the write, or the rename on a full or read-only disk
            raise cache.storage_error("the upload", e, path.parent) from e
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    spec = DataSpec("npz", str(path)).spec
    classes, images = _checked(spec)
    return Unpacked(spec, path, classes, images, reused)


def _check_npz_layout(data: bytes) -> None:
    """Refuse an .npz whose zip directory could cost more than MAX_BYTES or NPZ_MAX_ARRAYS, or names shared bytes."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise DatasetError(f"upload refused: not a readable npz file ({type(e).__name__})") from None
    with z:
        infos = z.infolist()
        _check_no_overlap(data, infos)
        if len(infos) > NPZ_MAX_ARRAYS:
            raise DatasetError(f"upload refused: the npz holds {len(infos):,} arrays, over the {NPZ_MAX_ARRAYS} limit")
        total = sum(info.file_size for info in infos)
        if total > MAX_BYTES:
            raise DatasetError(f"upload refused: the npz unpacks to {_mb(total)}, over the {_mb(MAX_BYTES)} limit")


def _check_no_overlap(data: bytes, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse a zip whose members share bytes: each member's local header, name, extra field and compressed data
    must lie apart, inside the file. Read from the zip's own structures, before anything is decompressed: a
    directory naming one 100 MB member 30 times declares 3 GB that a reader would unpack 30 times."""
    spans = []
    for info in infos:
        start = info.header_offset
        header = data[start : start + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise DatasetError(f"upload refused: {info.filename[:80]!r} has no local header where the zip says")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        end = start + 30 + name_len + extra_len + info.compress_size
        if end > len(data):
            raise DatasetError(f"upload refused: {info.filename[:80]!r} runs past the end of the file")
        spans.append((start, end, info.filename))
    spans.sort()
    for (_, end, name), (start, _, other) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise DatasetError(
                f"upload refused: members {name[:40]!r} and {other[:40]!r} share bytes "
                "(a zip whose directory names one member more than once is a bomb)"
            )


def _checked(spec: str) -> tuple[list[str], int]:
    """(class names, image count) of a dataset core.data.datasets can read; DatasetError otherwise."""
    from core.data.datasets import load_dataset

    ds = load_dataset(spec)
    return ds.classes, len(ds)


def _member_parts(info: zipfile.ZipInfo) -> list[str] | None:
    """The member's path as folder names, or None for a folder or an archiver's extra; DatasetError if unsafe."""
    name = info.filename
    shown = name[:80]
    if "\0" in name or "\\" in name or name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise DatasetError(f"upload refused: {shown!r} is an absolute or Windows path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DatasetError(f"upload refused: {shown!r} points outside the archive ('..')")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise DatasetError(f"upload refused: {shown!r} is a symbolic link")
    if info.flag_bits & 0x1:
        raise DatasetError(f"upload refused: {shown!r} is encrypted")
    if info.is_dir() or not parts or any(p.startswith(".") or p in SKIPPED for p in parts):
        return None  # folders, .DS_Store, __MACOSX/: nothing to unpack
    return parts


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, never more than its header declares (zipfile stops there and checks the CRC)."""
    if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
        raise DatasetError(
            f"upload refused: {info.filename[:80]!r} expands {info.file_size // info.compress_size:,}-fold "
            "(a zip bomb, not an image)"
        )
    with z.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) > info.file_size:
        raise DatasetError(f"upload refused: {info.filename[:80]!r} holds more than its header says")
    return data


def _check_image(name: str, data: bytes) -> None:
    from core.data.images import open_image  # by content; refuses decompression bombs

    try:
        img = open_image(io.BytesIO(data), IMAGE_FORMATS)
    except DatasetError:
        raise DatasetError(f"upload refused: {name[:80]!r} is not a PNG or JPEG image") from None
    if max(img.size) > MAX_SIDE:
        w, h = img.size
        raise DatasetError(f"upload refused: {name[:80]!r} is {w}×{h} pixels, over {MAX_SIDE} a side")


def _store_zip(data: bytes, folder: Path) -> Unpacked:
    if folder.is_dir():
        classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
        images = sum(1 for p in folder.rglob("*") if p.is_file())
        return Unpacked(DataSpec("folder", str(folder)).spec, folder, classes, images, True)
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise DatasetError(f"upload refused: not a readable zip file ({type(e).__name__})") from None
    with z:
        _check_no_overlap(data, z.infolist())
        members = [(info, parts) for info in z.infolist() if (parts := _member_parts(info)) is not None]
        if len(members) > MAX_FILES:
            raise DatasetError(f"upload refused: {len(members):,} files, over the {MAX_FILES:,} limit")
        total = sum(info.file_size for info, _ in members)
        if total > MAX_BYTES:
            raise DatasetError(f"upload refused: unpacks to {_mb(total)}, over the {_mb(MAX_BYTES)} limit")
        members = _strip_top_folder(members)
        try:
            tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
        except OSError as e:
            raise cache.storage_error("the upload", e, folder.parent) from e
        try:
            for info, parts in members:
                if len(parts) < 2:
                    raise DatasetError(
                        f"upload refused: {info.filename[:80]!r} is not inside a class folder "
                        "(the zip must hold one folder of images per class)"
                    )
                if len(parts) > 5:
                    raise DatasetError(f"upload refused: {info.filename[:80]!r} is nested too deep")
                content = _read_member(z, info)
                _check_image(info.filename, content)
                cache.write_bytes(tmp.joinpath(*parts), content, "the upload")  # tmp is renamed whole below
            if len(members) < MIN_IMAGES:
                raise DatasetError(f"upload refused: {len(members)} images; at least {MIN_IMAGES} are needed")
            try:
                tmp.chmod(0o755)
                os.replace(tmp, folder)  # appears complete, or not at all
            except OSError as e:
                if folder.is_dir():  # the same upload, unpacked by another session meanwhile
                    return _store_zip(data, folder)
                raise cache.storage_error("the upload", e, folder.parent) from e
        except StorageError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
            if folder.is_dir():  # the same upload, unpacked by another session meanwhile
                return _store_zip(data, folder)
            raise DatasetError(f"upload refused: the zip could not be read ({type(e).__name__})") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    classes = sorted({parts[0] for _, parts in members})
    return Unpacked(DataSpec("folder", str(folder)).spec, folder, classes, len(members), False)


def _strip_top_folder(members: list) -> list:
    """A zip of one folder holding the class folders (``digits/0/a.png``): drop that outer folder."""
    tops = {parts[0] for _, parts in members}
    if len(tops) == 1 and all(len(parts) >= 3 for _, parts in members):
        return [(info, parts[1:]) for info, parts in members]
    return members
