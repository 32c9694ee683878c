"""Every loader through its real code path, on small real files written by the tests."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.data.datasets import dataset_offer, download, is_present, load_dataset, read_shape, stratified_split
from core.data.images import prepare_image
from core.data.shapes import ReadShape, nearest_size
from core.errors import DatasetError
from support import make_mnist_root


def test_mnist5k_is_parsed_once_then_read_from_a_binary_copy(tmp_path, monkeypatch):
    """The first page after a server start reads a binary copy (milliseconds), not the CSV (0.1 s); a damaged copy
    is parsed again and rewritten."""
    from core.data import datasets

    monkeypatch.setattr(datasets, "USER_CACHE", tmp_path)
    want = datasets._mnist5k()[0]
    (copy,) = tmp_path.glob("mnist5k-*.npy")
    table = np.load(copy, allow_pickle=False)
    assert table.shape == (5000, 785) and np.array_equal(
        table[:, :784].reshape(-1, 1, 28, 28).astype(np.float32) / 255.0, want
    )
    table[0, 0] = 7  # a copy that disagrees with the CSV is what the loader reads: proof it reads the copy
    np.save(copy, table)
    assert datasets._mnist5k()[0][0, 0, 0, 0] == np.float32(7 / 255.0)
    copy.write_bytes(b"not an npy file")
    assert np.array_equal(datasets._mnist5k()[0], want) and np.load(copy).shape == (5000, 785)


def test_mnist5k_shape_labels_and_stratified_split():
    ds = load_dataset("mnist5k")
    assert ds.x.shape == (5000, 1, 28, 28) and ds.x.dtype == torch.float32
    assert 0.0 <= ds.x.min() and ds.x.max() == 1.0
    assert np.bincount(ds.y.numpy()).tolist() == [500] * 10
    assert len(ds.train_idx) == 4500 and len(ds.test_idx) == 500
    assert not set(ds.train_idx) & set(ds.test_idx)
    # stratified: every class has exactly 10% in the test split, although the file is sorted by label
    assert np.bincount(ds.y[ds.test_idx].numpy()).tolist() == [50] * 10
    # shuffled, not the first 50 of each class
    assert not np.array_equal(ds.test_idx[:50], np.arange(50))


def test_split_is_fixed_by_seed():
    y = np.repeat(np.arange(3), 20)
    a, b = stratified_split(y, 0.25, seed=1), stratified_split(y, 0.25, seed=1)
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], stratified_split(y, 0.25, seed=2)[1])
    assert np.bincount(y[a[1]]).tolist() == [5, 5, 5]


def test_digits():
    ds = load_dataset("digits")
    assert ds.x.shape == (1797, 1, 8, 8)
    assert float(ds.x.max()) == 1.0
    assert ds.classes == [str(i) for i in range(10)]


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST"), ("kmnist", "KMNIST")])
def test_torchvision_idx_files(tmp_path, name, folder):
    root = make_mnist_root(tmp_path, folder=folder, n_train=30, n_test=10)
    ds = load_dataset(name, root=root)
    assert ds.x.shape == (40, 1, 28, 28)
    assert len(ds.train_idx) == 30 and len(ds.test_idx) == 10  # the published split is kept
    assert ds.y[:10].tolist() == list(range(10))
    # the label-coded pixel survived: value = label * 20 / 255
    assert torch.allclose(ds.x[:, 0, 0, 0], ds.y.float() * 20 / 255)


def test_torchvision_missing_files_one_line_error(tmp_path):
    with pytest.raises(DatasetError) as e:
        load_dataset("mnist", root=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "MNIST/raw/ with train-images-idx3-ubyte" in msg
    assert "--download" in msg and str(tmp_path) in msg


def test_cifar10_tampered_files_are_refused(tmp_path):
    """torchvision's CIFAR-10 batches are pickles: its class checks their MD5 before reading, so a forged file
    is never unpickled; we turn its refusal into the one-line error."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / name).write_bytes(b"not the real file")
    with pytest.raises(DatasetError, match="cifar10.*cifar-10-batches-py"):
        load_dataset("cifar10", root=tmp_path)


def test_folder_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            a = rng.integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
            Image.fromarray(a).save(tmp_path / cls / f"{i}.png")
    ds = load_dataset(f"folder:{tmp_path}", image_size=28, channels=1)
    assert ds.x.shape == (6, 1, 28, 28)
    assert ds.classes == ["cats", "dogs"] and ds.y.tolist() == [0, 0, 0, 1, 1, 1]
    rgb = load_dataset(f"folder:{tmp_path}", image_size=32, channels=3)
    assert rgb.x.shape == (6, 3, 32, 32)


def colour_folder(root: Path, n: int = 40, side: int = 60, grey_too: bool = False) -> Path:
    """n RGB PNGs of side x side in two classes (reds and blues), plus grey ones in each if asked."""
    rng = np.random.default_rng(0)
    for cls, channel in (("blue", 2), ("red", 0)):
        (root / cls).mkdir(parents=True)
        for i in range(n // 2):
            a = rng.integers(0, 60, size=(side, side, 3), dtype=np.uint8)
            a[..., channel] = 200 + i
            Image.fromarray(a).save(root / cls / f"{i}.png")
        if grey_too:
            Image.fromarray(np.full((side + 2, side + 2), 90, np.uint8)).save(root / cls / "grey.png")
    return root


def test_a_colour_folder_keeps_its_colour_and_nearest_size(tmp_path):
    """40 RGB 60×60 PNGs: read as RGB 64×64 (the model size nearest 60), said in one line; the colour survives."""
    ds = load_dataset(f"folder:{colour_folder(tmp_path)}")
    assert ds.x.shape == (40, 3, 64, 64) and ds.classes == ["blue", "red"]
    assert ds.read_as == "RGB 64×64 (from 60×60 px colour images)"
    blue, red = ds.x[ds.y == 0].mean((0, 2, 3)), ds.x[ds.y == 1].mean((0, 2, 3))
    assert blue[2] > 0.75 > 0.15 > blue[0] and red[0] > 0.75 > 0.15 > red[2]
    assert read_shape(f"folder:{tmp_path}") == ReadShape((3, 64, 64), ds.read_as)  # said before loading, too
    asked = load_dataset(f"folder:{tmp_path}", image_size=28, channels=1)
    assert asked.x.shape == (40, 1, 28, 28) and asked.read_as == "grey 28×28, as asked (from 60×60 px colour images)"


def test_a_folder_is_grey_unless_an_image_is_colour_and_sizes_are_a_range(tmp_path):
    root = colour_folder(tmp_path / "mixed", n=4, side=30, grey_too=True)
    ds = load_dataset(f"folder:{root}")
    assert ds.x.shape == (6, 3, 32, 32) and ds.read_as == "RGB 32×32 (from 30–32 px colour images)"
    grey = tmp_path / "grey" / "only"
    grey.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((20 + 10 * i, 110, 4), 255, np.uint8), "RGBA").convert("LA").save(grey / f"{i}.png")
        Image.new("P", (110, 110), 0).save(grey / f"p{i}.png")  # a palette image of greys only: not colour
    g = load_dataset(f"folder:{grey.parent}")
    assert g.x.shape == (6, 1, 128, 128) and g.read_as == "grey 128×128 (from 110 px grey images)"


def test_an_npz_keeps_its_channels_at_the_nearest_size(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(10, 30, 30, 3), dtype=np.uint8)
    np.savez(tmp_path / "rgb.npz", x=x)
    ds = load_dataset(f"npz:{tmp_path / 'rgb.npz'}")
    assert ds.x.shape == (10, 3, 32, 32) and ds.read_as == "RGB 32×32 (from 30×30 px colour images)"
    assert read_shape(f"npz:{tmp_path / 'rgb.npz'}").shape == (3, 32, 32)
    assert abs(float(ds.x[:, 1].mean()) - x[..., 1].mean() / 255) < 0.01  # resized, channels kept apart
    np.savez(tmp_path / "rgb32.npz", x=x[:, :28, :28])
    kept = load_dataset(f"npz:{tmp_path / 'rgb32.npz'}")
    assert torch.equal(kept.x, torch.from_numpy(x[:, :28, :28].transpose(0, 3, 1, 2) / 255.0).float())


def test_named_sets_say_their_shape():
    assert load_dataset("digits").read_as == "grey 8×8"
    assert load_dataset("digits", image_size=16, channels=3).read_as == "RGB 16×16 (from grey 8×8)"
    assert read_shape("faces") == ReadShape((3, 64, 64), "RGB 64×64")
    assert read_shape("mnist5k", image_size=32).statement == "grey 32×32 (from grey 28×28)"


@pytest.mark.parametrize(
    "side,size", [(2, 4), (8, 8), (20, 16), (22, 28), (28, 28), (30, 32), (45, 32), (48, 64), (100, 128), (900, 128)]
)
def test_nearest_model_size(side, size):
    assert nearest_size(side) == size


def test_folder_missing(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(f"folder:{tmp_path / 'nope'}")


def test_npz_uint8_nhwc_and_float(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(12, 28, 28, 1), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(12) % 3)
    ds = load_dataset(f"npz:{tmp_path / 'a.npz'}")
    assert ds.x.shape == (12, 1, 28, 28)
    assert torch.allclose(ds.x[3, 0], torch.from_numpy(x[3, :, :, 0] / 255.0).float())
    assert ds.classes == ["0", "1", "2"]
    np.savez(tmp_path / "b.npz", x=np.full((4, 8, 8), 0.5, np.float32))
    b = load_dataset(f"npz:{tmp_path / 'b.npz'}")
    assert b.y.tolist() == [0, 0, 0, 0] and float(b.x.mean()) == 0.5


@pytest.mark.parametrize(
    "arrays,match",
    [
        ({"y": np.zeros(3)}, "no array 'x'"),
        ({"x": np.full((2, 8, 8), 3.0)}, "within"),
        ({"x": np.zeros((2, 8, 8), np.uint8), "y": np.zeros(5, np.int64)}, "'y' must be"),
        ({"x": np.zeros((2, 8), np.uint8)}, "must be"),
    ],
)
def test_npz_bad(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=match):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")


def test_npz_not_a_zip(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"hello")
    with pytest.raises(DatasetError, match="npz"):
        load_dataset(f"npz:{tmp_path / 'x.npz'}")


def test_unknown_dataset():
    with pytest.raises(DatasetError, match="unknown dataset 'nope'.*mnist5k"):
        load_dataset("nope")


def test_prepare_image_png_and_refuses_non_images():
    buf = io.BytesIO()
    Image.fromarray(np.full((56, 56), 255, np.uint8)).save(buf, format="PNG")
    x = prepare_image(io.BytesIO(buf.getvalue()), (1, 28, 28)).x
    assert x.shape == (1, 28, 28) and float(x.min()) == 1.0
    with pytest.raises(DatasetError, match="not a readable image"):
        prepare_image(io.BytesIO(b"GIF89a-not-really"), (1, 28, 28))


def test_offer_only_what_is_present_and_fits(mnist_root):
    offer = dataset_offer((1, 28, 28), mnist_root)
    assert offer.ready == ["mnist5k", "mnist"]  # mnist's files are under this root
    assert offer.downloadable == ["fashion-mnist", "kmnist"]
    assert set(offer.unfit) == {"digits", "cifar10", "faces", "faces128", "photos", "photos128"}  # no celeba here
    assert offer.unfit["digits"] == "grey 8×8 images" and offer.unfit["faces"] == "RGB 64×64 images"
    assert dataset_offer((1, 8, 8), mnist_root).ready == ["digits"]


@pytest.fixture
def mirror(tmp_path):
    """A real HTTP server on localhost serving gzipped IDX files, as the MNIST mirrors do."""
    import hashlib
    import http.server
    import threading
    from functools import partial

    files = tmp_path / "mirror"
    make_mnist_root(tmp_path / "src")
    resources = []
    for name in sorted((tmp_path / "src" / "MNIST" / "raw").iterdir()):
        files.mkdir(exist_ok=True)
        gz = files / (name.name + ".gz")
        gz.write_bytes(gzip.compress(name.read_bytes()))
        resources.append((gz.name, hashlib.md5(gz.read_bytes()).hexdigest()))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(files))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", resources
    server.shutdown()


def test_download_checks_md5_reports_progress_and_loads(tmp_path, mirror):
    url, resources = mirror
    seen = []
    download(
        "mnist", tmp_path / "data", progress=lambda d, t, f: seen.append((d, t, f)), mirrors=[url], resources=resources
    )
    ds = load_dataset("mnist", root=tmp_path / "data")
    assert len(ds) == 80 and ds.x.shape[1:] == (1, 28, 28)
    assert seen[-1][0] == seen[-1][1] > 0 and {f for *_, f in seen} == {r[0] for r in resources}
    bad = [(resources[0][0], "0" * 32)]
    with pytest.raises(DatasetError, match="damaged"):
        download("mnist", tmp_path / "other", mirrors=[url], resources=bad)
    assert not is_present("mnist", tmp_path / "other")


def test_download_without_network_is_one_line(tmp_path):
    with pytest.raises(DatasetError, match=r"could not download kmnist .*Check the network") as e:
        download("kmnist", tmp_path, mirrors=["http://127.0.0.1:9/"], timeout=2)
    assert "\n" not in str(e.value)


def test_parse_spec_reads_folder_and_npz_names_only():
    from core.data.paths import DataSpec, parse_spec

    assert parse_spec("npz:data/a:b.npz") == DataSpec("npz", "data/a:b.npz")  # the first colon splits
    assert parse_spec("folder:/srv/imgs").path == Path("/srv/imgs")
    assert parse_spec("folder:").raw == "" and DataSpec("npz", "x.npz").spec == "npz:x.npz"
    assert [parse_spec(n) for n in ("mnist5k", "zip:x", "Folder:x", "")] == [None] * 4
