"""Hostile and careless inputs, one small test each: the message is one line, nothing outside the data roots is
read, nothing huge is allocated, nothing is lost. Families: links (URL), checkpoint configs, npz files, images,
folders, training faults; then a bounded fuzz of the config, npz and image readers."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.data.datasets import load_dataset
from core.data.images import prepare_image
from core.data.paths import check_spec
from core.errors import CheckpointError, DatasetError
from core.models.checkpoints import CONFIG, WEIGHTS, load_checkpoint, read_config, save_checkpoint
from support import DEFAULT, ROOT
from ui import loaders

APP = str(ROOT / "app.py")


def one_line(e: BaseException) -> str:
    text = str(e)
    assert "\n" not in text and "Traceback" not in text and len(text) < 400, text
    return text


def app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    return at.run()


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """The operator's data folder is tmp_path/data; tmp_path/private is a server folder outside it."""
    data, private = tmp_path / "data", tmp_path / "private"
    (data / "ok").mkdir(parents=True)
    (private / "secret" / "cls").mkdir(parents=True)
    Image.new("L", (28, 28), 200).save(private / "secret" / "cls" / "a.png")
    monkeypatch.setenv("LATENT_EXPLORER_DATA_ROOTS", str(data))
    return data, private


# ------------------------------------------------------------------------------ links (URL / query string)


def test_a_link_to_the_filesystem_root_is_refused_at_once(roots, monkeypatch):
    import core.cache
    import core.data.datasets

    def no_walk(*a, **k):
        raise AssertionError("a visitor's path outside the roots was walked")

    monkeypatch.setattr(core.data.datasets, "walk_images", no_walk)  # it used to walk / and grow ~80 MiB/s
    monkeypatch.setattr(core.cache, "folder_listing", no_walk)
    monkeypatch.setattr(core.data.datasets, "folder_listing", no_walk)
    at = app(data="folder:/")
    assert not at.exception
    assert len(at.error) == 1 and "must lie inside the data folder" in at.error[0].value


def test_outside_paths_get_the_same_message_whether_they_exist_or_not(roots):
    data, private = roots
    messages = set()
    for spec in (f"folder:{private / 'secret'}", "folder:/etc", "npz:/etc/passwd", f"npz:{private}/missing.npz"):
        with pytest.raises(DatasetError) as e:
            check_spec(spec)
        messages.add(one_line(e.value).split(":", 1)[1])
    assert len(messages) == 1  # a visitor learns nothing about which server paths exist


def test_a_symlink_inside_the_data_folder_does_not_lead_out(roots):
    data, private = roots
    (data / "link").symlink_to(private / "secret")
    with pytest.raises(DatasetError, match="must lie inside"):
        check_spec(f"folder:{data / 'link'}")
    (data / "ok" / "cls").mkdir()
    (data / "ok" / "cls" / "out.png").symlink_to(private / "secret" / "cls" / "a.png")
    with pytest.raises(DatasetError, match="no class subfolders with images"):  # linked files are not followed
        load_dataset(f"folder:{data / 'ok'}")


def test_private_folder_images_are_never_served(roots):
    data, private = roots
    at = app(data=f"folder:{private / 'secret'}")
    assert not at.exception and "must lie inside the data folder" in at.error[0].value
    assert not [c for c in at.get("plotly_chart") if c.key != "plotly_preload_chart"]  # nothing of it drawn


def test_server_paths_can_be_turned_off(roots, monkeypatch):
    data, _ = roots
    monkeypatch.setenv("LATENT_EXPLORER_SERVER_PATHS", "0")
    with pytest.raises(DatasetError, match="turned off"):
        check_spec(f"npz:{data / 'x.npz'}")
    check_spec("mnist5k")  # named datasets are not server paths


@pytest.mark.parametrize(
    "ckpt",
    ["[Session expired - sign in again](http://evil.example/login)", "![x](http://evil.example/p.png)", ":red[hi]"],
)
def test_url_text_is_shown_as_plain_text(ckpt):
    at = app(ckpt=ckpt)
    shown = at.sidebar.warning[0].value
    assert "http:/\u200b/evil" in shown or ":red\\[" in shown  # markup escaped, no bare URL to autolink
    assert shown.count("[") == shown.count("\\[") >= 1  # every bracket escaped: no link, no image, no directive


def test_long_and_odd_names_are_one_line(roots):
    data, _ = roots
    for spec in (f"npz:{data / ('a' * 300)}.npz", "npz:" + "\0", "folder:"):
        with pytest.raises(DatasetError) as e:
            check_spec(spec) if "\0" in spec or spec == "folder:" else load_dataset(spec)
        one_line(e.value)


# ------------------------------------------------------------------------------ checkpoint configs


@pytest.fixture
def shipped_copy(tmp_path):
    dst = tmp_path / "ckpts" / DEFAULT
    shutil.copytree(ROOT / "checkpoints" / DEFAULT, dst)
    return dst


def edit_config(folder: Path, change) -> None:
    meta = json.loads((folder / CONFIG).read_text())
    change(meta)
    (folder / CONFIG).write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda m: m["metrics"]["test"].update(recon_mse="n/a"), "metrics.test.recon_mse must be a number"),
        (lambda m: m.update(format_version="2"), "format_version must be an integer"),
        (lambda m: m["model"].update(image_shape="abc"), "image_shape must be three integers"),
        (lambda m: m["model"].update(latent_dim=16.5), "latent_dim must be an integer"),
        (lambda m: m["model"].update(hidden=200_000), "width/hidden must be <= 512/4096"),
        (lambda m: m.update(deep=json.loads("[" * 40 + "]" * 40)), "nested deeper than"),
        (lambda m: m.update(dataset=""), "dataset must be a dataset name"),
        (lambda m: m["training"].update(exclude_class="9"), "exclude_class must be a label"),
    ],
)
def test_a_bad_config_is_one_line_before_anything_is_built(shipped_copy, change, says, monkeypatch):
    import core.models.autoencoders

    edit_config(shipped_copy, change)
    monkeypatch.setattr(core.models.autoencoders, "build_model", lambda cfg: pytest.fail("a model was built first"))
    with pytest.raises(CheckpointError, match=says) as e:  # refused before a (3 GB) layer is allocated
        load_checkpoint(shipped_copy)
    one_line(e.value)


def test_a_huge_or_non_json_config_is_refused(shipped_copy):
    (shipped_copy / CONFIG).write_bytes(b"{" * 2_000_000)
    with pytest.raises(CheckpointError, match="over 1,000,000 bytes"):
        read_config(shipped_copy)
    (shipped_copy / CONFIG).write_bytes(b"\xff\xfe not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_config(shipped_copy)


def test_one_broken_checkpoint_never_takes_the_app_down(shipped_copy, monkeypatch):
    broken = shipped_copy.parent / "broken"
    shutil.copytree(shipped_copy, broken)
    edit_config(broken, lambda m: m["metrics"]["test"].update(recon_mse="n/a"))
    monkeypatch.setattr(loaders, "CKPT_ROOT", shipped_copy.parent)
    at = app()
    assert not at.exception and not at.error and at.title[0].value == "Map"
    picker = at.sidebar.selectbox(key="ckpt")
    assert (
        picker.value == DEFAULT
        and "broken (broken: bad config.json: metrics.test.recon_mse must be" in picker.options[0]
    )
    at = app(ckpt="broken")
    assert (
        not at.exception and len(at.main.error) == 1 and "metrics.test.recon\\_mse must be a" in at.main.error[0].value
    )
    assert at.sidebar.selectbox(key="ckpt").value == "broken"  # the sidebar stays, another pick still works


# ------------------------------------------------------------------------------ npz files


def npy_bytes(shape, dtype="<u1", data=b"") -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": tuple(shape)}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def write_npz(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if name == symlink:
                info.external_attr = (0o120777 & 0xFFFF) << 16
            z.writestr(info, data)
    return path


def test_npz_header_claiming_1e11_images_is_refused_without_allocating(tmp_path):
    path = write_npz(tmp_path / "big.npz", {"x.npy": npy_bytes((10**11, 28, 28))})
    assert path.stat().st_size < 400
    with pytest.raises(DatasetError, match="claims shape") as e:
        load_dataset(f"npz:{path}")
    one_line(e.value)


def test_npz_labels_are_remapped_not_allocated(tmp_path):
    x = np.zeros((3, 28, 28), np.uint8)
    np.savez(tmp_path / "l.npz", x=x, y=np.array([2**40, 5, 2**40]))
    ds = load_dataset(f"npz:{tmp_path / 'l.npz'}")
    assert ds.classes == ["5", str(2**40)] and ds.y.tolist() == [1, 0, 1]
    np.savez(tmp_path / "many.npz", x=np.zeros((1500, 4, 4), np.uint8), y=np.arange(1500))
    with pytest.raises(DatasetError, match="1,500 different labels"):
        load_dataset(f"npz:{tmp_path / 'many.npz'}")


@pytest.mark.parametrize(
    "members, symlink, says",
    [
        ({"x.npy": npy_bytes((0, 28, 28))}, None, "must be 1..2,000,000 images"),
        ({"x.npy": b"PK\x03\x04 a zip inside a zip"}, None, "not a readable npz"),
        ({"x.npy": npy_bytes((2, 28, 28), data=bytes(2 * 784))}, "x.npy", "symbolic link"),
        ({"x.npy": npy_bytes((2, 28, 28), "|O", b"")}, None, "Python objects"),
        ({"y.npy": npy_bytes((2,), "<i8", bytes(16))}, None, "has no array 'x'"),
    ],
)
def test_npz_members_that_are_not_plain_arrays(tmp_path, members, symlink, says):
    path = write_npz(tmp_path / "bad.npz", members, symlink)
    with pytest.raises(DatasetError, match=says) as e:
        load_dataset(f"npz:{path}")
    one_line(e.value)


def test_npz_encrypted_member_is_refused(tmp_path):
    path = write_npz(tmp_path / "enc.npz", {"x.npy": npy_bytes((1, 28, 28), data=bytes(784))})
    raw = bytearray(path.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the "encrypted" flag bit
        i = raw.find(sig)
        raw[i + offset] |= 0x1
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="encrypted"):
        load_dataset(f"npz:{path}")


# ------------------------------------------------------------------------------ images


def png(img: Image.Image) -> io.BytesIO:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    buf.seek(0)
    return buf


def test_16_bit_grey_is_scaled_not_clipped():
    img = Image.fromarray(np.full((28, 28), 32768, np.uint16))
    p = prepare_image(png(img), (1, 28, 28))
    assert abs(float(p.x.mean()) - 0.5) < 0.01 and "16-bit image scaled to 8 bits" in p.notes


def test_a_drawing_on_a_transparent_sheet_keeps_its_shape():
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[8:20, 12:16, 3] = 255  # a black bar, opaque, on a fully transparent background
    p = prepare_image(png(Image.fromarray(rgba, "RGBA")), (1, 28, 28))
    assert float(p.x[0, 10, 13]) == 1.0 and float(p.x[0, 2, 2]) == 0.0  # light ink on dark, like MNIST
    assert any("transparent background" in n for n in p.notes)


def test_a_tiff_named_png_is_refused_as_an_upload():
    buf = io.BytesIO()
    Image.new("L", (28, 28), 128).save(buf, format="TIFF")
    buf.seek(0)
    with pytest.raises(DatasetError, match="not a readable image") as e:
        prepare_image(buf, (1, 28, 28))
    one_line(e.value)


def test_resizing_and_colour_conversion_are_stated():
    p = prepare_image(png(Image.new("RGB", (56, 40), (10, 200, 30))), (1, 28, 28))
    assert p.notes == ["converted to grey", "resized from 56×40 to 28×28"] and p.x.shape == (1, 28, 28)


# ------------------------------------------------------------------------------ folders


def test_a_folder_over_the_caps_stops_with_one_line(roots, monkeypatch):
    import core.data.datasets

    data, _ = roots
    (data / "many" / "c").mkdir(parents=True)
    for i in range(12):
        Image.new("L", (8, 8), i).save(data / "many" / "c" / f"{i}.png")
    monkeypatch.setattr(core.data.datasets, "FOLDER_MAX_FILES", 10)
    with pytest.raises(DatasetError, match="more than 10 images"):
        core.data.datasets.walk_images(data / "many", max_files=10)


# ------------------------------------------------------------------------------ training faults


def tiny_ckpt(path: Path, seed: int) -> None:
    from core.models.autoencoders import ModelConfig, build_model

    torch.manual_seed(seed)
    save_checkpoint(path, build_model(ModelConfig(image_shape=(1, 8, 8), latent_dim=2, width=2, hidden=4)))


KILL = """
import os, sys, torch
import core.models.checkpoints as c
from core.models.autoencoders import ModelConfig, build_model
where = sys.argv[2]
real_exchange, real_replace = c._exchange, os.replace
if where == "before-exchange":
    c._exchange = lambda a, b: os._exit(137)
elif where == "after-exchange":
    c._exchange = lambda a, b: (real_exchange(a, b), os._exit(137))
elif where == "between-renames":  # a system without an atomic exchange: killed between the two renames
    c._exchange = lambda a, b: False
    calls = []
    def replace(a, b):
        calls.append(a)
        if len(calls) == 2:
            os._exit(137)
        real_replace(a, b)
    c.os.replace = replace
torch.manual_seed(1)
c.save_checkpoint(sys.argv[1], build_model(ModelConfig(image_shape=(1, 8, 8), latent_dim=2, width=2, hidden=4)))
"""


@pytest.mark.parametrize("where", ["before-exchange", "after-exchange", "between-renames"])
def test_a_kill_during_a_save_never_loses_the_checkpoint(tmp_path, where):
    path = tmp_path / "ck"
    tiny_ckpt(path, seed=0)
    old = load_checkpoint(path).weights_sha256
    r = subprocess.run([sys.executable, "-c", KILL, str(path), where], cwd=ROOT, timeout=120)
    assert r.returncode == 137  # killed, no clean-up ran
    ck = load_checkpoint(path)  # a complete checkpoint, old or new, whatever the moment
    assert ck.weights_sha256 == old if where == "before-exchange" else ck.weights_sha256 != old
    tiny_ckpt(path, seed=2)  # the next save cleans what the kill left behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_readers_never_see_a_half_switched_folder(tmp_path):
    path = tmp_path / "ck"
    tiny_ckpt(path, seed=0)
    stop, errors = threading.Event(), []

    def keep_saving():
        seed = 1
        while not stop.is_set():
            tiny_ckpt(path, seed=seed)
            seed += 1

    t = threading.Thread(target=keep_saving)
    t.start()
    try:
        for _ in range(150):
            try:
                load_checkpoint(path)
            except CheckpointError as e:
                errors.append(str(e))
    finally:
        stop.set()
        t.join()
    assert errors == []


def test_a_disk_quota_keeps_the_old_checkpoint_and_says_so_in_one_line(tmp_path, monkeypatch):
    import errno

    path = tmp_path / "ck"
    tiny_ckpt(path, seed=0)
    old = load_checkpoint(path).weights_sha256

    def over_quota(fd):  # a quota (or NFS) reports a failed write at fsync: no test machine has one for real
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))

    monkeypatch.setattr(os, "fsync", over_quota)
    with pytest.raises(CheckpointError, match=r"^could not save checkpoint ck: disk quota exceeded; the previous") as e:
        tiny_ckpt(path, seed=1)
    one_line(e.value)
    monkeypatch.undo()
    assert load_checkpoint(path).weights_sha256 == old and (path / WEIGHTS).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temporary folder left


# ------------------------------------------------------------------------------ a really full or read-only disk


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MB filesystem (tmpfs) under tmp_path: writing past it fails with ENOSPC, as on a full disk."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"needs `mount -t tmpfs` (root) for a real full disk: {mount.stderr.decode().strip()[:120]}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> None:
    """Write zeros until the filesystem is full (ENOSPC for real)."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as e:
                assert e.errno == 28, e
    finally:
        os.close(fd)


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_training_save_into_a_really_full_disk_is_one_line_and_keeps_the_last_epoch(small_disk, tmp_path):
    from core.models.autoencoders import ModelConfig
    from core.train.loop import TrainConfig, train
    from core.train.progress import read_progress

    out = small_disk / "ck"
    tiny = ModelConfig(latent_dim=2, width=2, hidden=4)
    train(TrainConfig(dataset="digits", out=str(out), model=tiny, epochs=1, device="cpu"), progress=False)
    before = files_of(out)
    fill(small_disk)
    progress = tmp_path / "progress.jsonl"
    flags = ["--dataset", "digits", "--latent-dim", "2", "--width", "2", "--hidden", "4", "--device", "cpu"]
    run = subprocess.run(
        [sys.executable, "-m", "core.train", *flags, "--epochs", "2", "--resume", "--out", str(out)]
        + ["--progress-file", str(progress)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    said = "error: could not save checkpoint ck: no space left on device (0.0 MB free); the previous one is kept"
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.stderr.strip().splitlines()[-1] == said
    assert read_progress(progress).end == {"state": "failed", "message": said}  # what the Train page shows
    assert files_of(out) == before  # byte for byte: epoch 1's checkpoint
    assert sorted(p.name for p in small_disk.iterdir()) == ["ck", "filler"]  # no temporary folder or file left


def test_every_write_on_a_really_full_or_read_only_disk_is_one_line_and_keeps_the_old_file(small_disk):
    from core.cache import atomic_write_bytes
    from core.data.uploads import unpack_upload
    from core.errors import StorageError
    from core.train.progress import ProgressWriter

    old = small_disk / "cache" / "latents.npz"
    atomic_write_bytes(old, b"old content")
    npz = io.BytesIO()
    np.savez(npz, x=np.random.default_rng(0).integers(0, 255, (30, 28, 28), np.uint8))  # incompressible: 23 kB
    fill(small_disk)
    with pytest.raises(StorageError, match=r"^could not save latents.npz: no space left on device \(0.0 MB free\)$"):
        atomic_write_bytes(old, b"new content" * 10_000)
    with pytest.raises(StorageError, match=r"^could not save the upload: no space left on device"):
        unpack_upload(npz.getvalue(), "x.npz", small_disk / "uploads")
    with pytest.raises(StorageError, match=r"^could not save the training progress: no space left on device"):
        ProgressWriter(small_disk / "progress.jsonl").write("start", device="cpu")
    (small_disk / "filler").unlink()
    tiny_ckpt(small_disk / "ck", seed=0)
    before = files_of(small_disk / "ck")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(CheckpointError, match=r"^could not save checkpoint ck: read-only file system; the previous"):
        tiny_ckpt(small_disk / "ck", seed=1)
    with pytest.raises(StorageError, match=r"^could not save latents.npz: read-only file system$") as e:
        atomic_write_bytes(old, b"new content")
    one_line(e.value)
    assert old.read_bytes() == b"old content" and files_of(small_disk / "ck") == before
    assert [p.name for p in small_disk.rglob(".*")] == []  # no temporary file or folder left anywhere


# ------------------------------------------------------------------------------ zips whose members share bytes


def name_again(data: bytes, name: str, times: int) -> bytes:
    """The zip ``data`` with its central directory naming member ``name`` ``times`` times, every entry pointing
    at the same local header and data (the end-of-central-directory record fixed to match)."""
    end = data.rindex(b"PK\x05\x06")
    count, size, offset = struct.unpack("<HII", data[end + 10 : end + 20])
    records, pos = [], offset
    for _ in range(count):
        n, m, k = struct.unpack("<HHH", data[pos + 28 : pos + 34])
        records.append(data[pos : pos + 46 + n + m + k])
        pos += 46 + n + m + k
    record = next(r for r in records if r[46 : 46 + struct.unpack("<H", r[28:30])[0]] == name.encode())
    directory = b"".join(records) + record * (times - 1)
    total = count + times - 1
    end_record = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, total, total, len(directory), offset, 0)
    return data[:offset] + directory + end_record


def test_an_npz_naming_one_member_30_times_is_refused_before_unpacking(tmp_path):
    from core.data.uploads import unpack_upload

    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.zeros((1000, 32, 32), np.uint8))  # 1 MB declared, a few kB stored
    bomb = name_again(buf.getvalue(), "x.npy", 30)  # 30 MB declared, one member's bytes
    assert len(zipfile.ZipFile(io.BytesIO(bomb)).infolist()) == 30 and len(bomb) < 10_000
    with pytest.raises(DatasetError, match=r"^upload refused: members 'x.npy' and 'x.npy' share bytes") as e:
        unpack_upload(bomb, "bomb.npz", tmp_path)
    one_line(e.value)
    assert list(tmp_path.iterdir()) == []  # nothing written
    got = unpack_upload(buf.getvalue(), "fine.npz", tmp_path)  # the same npz, named once, loads
    assert got.images == 1000 and load_dataset(got.spec).x.shape == (1000, 1, 32, 32)


def test_an_npz_over_the_upload_limits_is_refused_unread(tmp_path, monkeypatch):
    from core.data import uploads

    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.zeros((1000, 32, 32), np.uint8), **{f"a{i}": np.zeros(1) for i in range(20)})
    with pytest.raises(DatasetError, match=r"^upload refused: the npz holds 21 arrays, over the 16 limit$"):
        uploads.unpack_upload(buf.getvalue(), "many.npz", tmp_path)
    monkeypatch.setattr(uploads, "MAX_BYTES", 500_000)
    small = io.BytesIO()
    np.savez_compressed(small, x=np.zeros((1000, 32, 32), np.uint8))
    with pytest.raises(DatasetError, match=r"^upload refused: the npz unpacks to 1.0 MB, over the 0.5 MB limit$"):
        uploads.unpack_upload(small.getvalue(), "big.npz", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_image_zip_naming_one_member_30_times_is_refused(tmp_path):
    from core.data.uploads import unpack_upload

    def image(i: int) -> bytes:
        out = io.BytesIO()
        Image.new("L", (28, 28), 8 * i).save(out, "PNG")
        return out.getvalue()

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(24):
            z.writestr(f"{('cat', 'dog')[i % 2]}/{i}.png", image(i))
    bomb = name_again(buf.getvalue(), "cat/0.png", 30)
    with pytest.raises(DatasetError, match=r"^upload refused: members 'cat/0.png' and 'cat/0.png' share bytes"):
        unpack_upload(bomb, "bomb.zip", tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert unpack_upload(buf.getvalue(), "fine.zip", tmp_path).images == 24


# ------------------------------------------------------------------------------ bounded fuzz (about 30 s in all)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=30,
)


@FUZZ
@given(
    model=st.dictionaries(st.sampled_from(["kind", "latent_dim", "image_shape", "hidden", "beta"]), JSON), extra=JSON
)
def test_fuzz_config(tmp_path_factory, model, extra):
    folder = tmp_path_factory.mktemp("c")
    (folder / CONFIG).write_text(json.dumps({"format": "latent-explorer-checkpoint", "model": model, "x": extra}))
    try:
        read_config(folder)
    except CheckpointError as e:
        one_line(e)


@FUZZ
@given(data=st.binary(max_size=600), flip=st.integers(0, 599))
def test_fuzz_npz(tmp_path_factory, data, flip):
    base = bytearray(
        write_npz(tmp_path_factory.mktemp("n") / "a.npz", {"x.npy": npy_bytes((1, 4, 4), data=bytes(16))}).read_bytes()
    )
    base[flip % len(base)] ^= 0xFF
    for blob in (bytes(base), data):
        path = tmp_path_factory.mktemp("n") / "b.npz"
        path.write_bytes(blob)
        try:
            load_dataset(f"npz:{path}")
        except DatasetError as e:
            one_line(e)


@FUZZ
@given(data=st.binary(max_size=400), flip=st.integers(0, 10_000))
def test_fuzz_images(data, flip):
    good = bytearray(png(Image.new("L", (8, 8), 77)).getvalue())
    good[flip % len(good)] ^= 0x55
    for blob in (bytes(good), data):
        try:
            p = prepare_image(io.BytesIO(blob), (1, 28, 28))
            assert p.x.shape == (1, 28, 28)
        except DatasetError as e:
            one_line(e)


def test_integers_past_float_and_int64_range_from_the_browser_are_ignored():
    """A tampered client can send valid JSON holding a 401-digit integer: every parser answers "ignored" (None)."""
    from ui import state

    huge = 10**400
    lo, hi = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    assert state.parse_latent([0.5, huge, 0.1], 3, -3, 3) is None
    assert state.parse_latent([0.5, -huge, 0.1], 3, -3, 3) is None
    assert state.parse_click({"xy": [huge, 0.5]}, 10, lo, hi) is None
    assert state.parse_click({"index": huge}, 10, lo, hi) is None
    assert state.numbers_text([0.5, huge, 0.1]) is None  # a box / lasso polygon or a camera from the browser
    assert state.numbers_text([2**63, 1]) == "9.223372036854776e+18,1.0"  # a float, then refused by its parser
    assert state.parse_point(str(huge)) is None and state.parse_point(str(2**63)) is None  # the URL's point
    assert state.parse_latent([0.5, 1, 0.1], 3, -3, 3) == [0.5, 1.0, 0.1]  # a whole number in range still counts
