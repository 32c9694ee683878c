"""core.encode: streamed Parquet shards equal encode_dataset's numbers, the Ray pipeline equals the local engine,
a killed run resumes without duplicates, a bad file is one line, a Hugging Face style Parquet table is read."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import core.encode as enc
from core.data.datasets import load_dataset
from core.models.checkpoints import load_checkpoint
from core.models.inference import encode_dataset
from support import ROOT

CKPT = ROOT / "checkpoints" / "mnist5k-vae16"


@pytest.fixture(scope="session")
def ray_cluster():
    """One local 2-CPU Ray for the whole test session."""
    print_before = print
    import builtins

    os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")  # as core.encode does: print stays Python's own
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20)
    yield ray
    ray.shutdown()
    assert builtins.print is print_before  # a patched print breaks numba in every later test of this worker


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist5k")


@pytest.fixture(scope="module")
def reference(mnist):
    """encode_dataset's numbers for mnist5k with the shipped VAE: what every streamed row must equal."""
    return encode_dataset(load_checkpoint(CKPT).model, mnist.x, mnist.y, mnist.test_idx)


def write_npz(path: Path, mnist, n: int) -> str:
    np.savez(path, x=(mnist.images[:n, 0] * 255).round().astype(np.uint8), y=mnist.labels[:n])
    return f"npz:{path}"


def column(table: pa.Table, name: str) -> np.ndarray:
    c = table.column(name).combine_chunks()
    if pa.types.is_fixed_size_list(c.type):
        return c.flatten().to_numpy().reshape(len(c), c.type.list_size)
    return c.to_numpy(zero_copy_only=False)


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((a * 255).round().astype(np.uint8), "L").save(buf, "PNG")
    return buf.getvalue()


def test_shards_round_trip_with_encode_datasets_numbers(tmp_path, mnist, reference):
    spec = write_npz(tmp_path / "first.npz", mnist, 300)
    r = enc.encode_to_shards(CKPT, spec, tmp_path / "out", shard_size=128, batch_size=50)
    assert r.written == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"] and r.encoded == 300
    t = enc.read_encoded(tmp_path / "out")
    assert [len(pq.read_table(tmp_path / "out" / f)) for f in r.written] == [128, 128, 44]
    assert column(t, "id").tolist() == [str(i) for i in range(300)]
    assert column(t, "mean").shape == (300, 16) and column(t, "logvar").shape == (300, 16)
    np.testing.assert_allclose(column(t, "mean"), reference.mean[:300], atol=1e-5)
    np.testing.assert_allclose(column(t, "logvar"), reference.logvar[:300], atol=1e-5)
    np.testing.assert_array_equal(column(t, "label"), mnist.labels[:300])
    for name in ("recon_error", "recon_nll", "kl", "neg_elbo"):  # the neg ELBO's noise is per row, as in the app
        np.testing.assert_allclose(column(t, name), getattr(reference, name)[:300], rtol=1e-5, atol=1e-6)
    assert t.schema.field("mean").type == pa.list_(pa.float32(), 16)


def test_the_ray_pipeline_gives_the_local_engines_latents(tmp_path, mnist, ray_cluster, monkeypatch):
    spec = write_npz(tmp_path / "first.npz", mnist, 300)
    local = enc.encode_to_shards(CKPT, spec, tmp_path / "local", shard_size=128, batch_size=64)
    monkeypatch.setattr(enc, "RAY_WINDOW_BYTES", 256 * 28 * 28 * 4)  # two shards a window: two pipelines, in order
    remote = enc.encode_to_shards(CKPT, spec, tmp_path / "ray", engine="ray", shard_size=128, batch_size=64)
    assert remote.written == local.written and remote.encoded == 300
    a, b = enc.read_encoded(tmp_path / "local"), enc.read_encoded(tmp_path / "ray")
    assert column(b, "id").tolist() == column(a, "id").tolist()
    np.testing.assert_allclose(column(b, "mean"), column(a, "mean"), atol=1e-5)
    np.testing.assert_allclose(column(b, "logvar"), column(a, "logvar"), atol=1e-5)
    np.testing.assert_allclose(column(b, "neg_elbo"), column(a, "neg_elbo"), rtol=1e-5)


def test_a_killed_encode_resumes_without_duplicates(tmp_path, mnist):
    out, spec = tmp_path / "out", write_npz(tmp_path / "first.npz", mnist, 1000)
    cmd = [sys.executable, "-m", "core.encode", "--checkpoint", str(CKPT), "--dataset", spec]
    cmd += ["--out", str(out), "--shard-size", "50", "--batch-size", "25", "--device", "cpu", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "part-00000.parquet").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the encode ended before its first shard"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.parquet")}
    assert 1 <= len(finished) < 20, f"not killed mid-run: {sorted(finished)}"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "a half-written shard was left"
    rerun = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{20 - len(finished)} shards written, {len(finished)} kept" in rerun.stderr
    for name, stamp in finished.items():  # finished shards are kept as they were, not rewritten
        p = out / name
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp
    ids = enc.read_encoded(out).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 1000 and set(ids) == {str(i) for i in range(1000)}


def test_a_corrupt_file_is_one_line_and_the_run_goes_on(tmp_path, mnist):
    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
    for i in range(8):
        (tmp_path / "imgs" / "ab"[i % 2] / f"{i}.png").write_bytes(png(mnist.images[i, 0]))
    (tmp_path / "imgs" / "b" / "0-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    cmd = [sys.executable, "-m", "core.encode", "--checkpoint", str(CKPT), "--dataset", f"folder:{tmp_path / 'imgs'}"]
    r = subprocess.run(
        [*cmd, "--out", str(tmp_path / "out"), "--shard-size", "4", "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    bad = [line for line in r.stderr.splitlines() if "0-broken.png" in line]
    assert bad == [line for line in r.stderr.splitlines() if line.startswith("bad file")]
    assert len(bad) == 1 and bad[0].startswith("bad file b/0-broken.png: not a readable image")
    t = enc.read_encoded(tmp_path / "out")
    assert column(t, "id").tolist() == [f"a/{i}.png" for i in (0, 2, 4, 6)] + [f"b/{i}.png" for i in (1, 3, 5, 7)]
    np.testing.assert_array_equal(column(t, "label"), [0] * 4 + [1] * 4)
    assert column(t, "row").tolist() == [0, 1, 2, 3, 5, 6, 7, 8]  # row 4 (the broken file) left out, not renumbered


def test_a_hugging_face_parquet_table_of_image_bytes_is_read(tmp_path, mnist, reference):
    n = 40
    image = pa.array(
        [{"bytes": png(mnist.images[i, 0]), "path": f"{i}.png"} for i in range(n)],
        pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
    )
    (tmp_path / "hf" / "data").mkdir(parents=True)
    table = pa.table({"image": image, "label": pa.array(mnist.labels[:n])})
    pq.write_table(table.slice(0, 24), tmp_path / "hf" / "data" / "train-00000-of-00002.parquet", row_group_size=8)
    pq.write_table(table.slice(24), tmp_path / "hf" / "data" / "train-00001-of-00002.parquet", row_group_size=8)
    spec = f"parquet:{tmp_path / 'hf'}"
    r = enc.encode_to_shards(CKPT, spec, tmp_path / "out", shard_size=16, batch_size=5)
    assert r.written == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"] and not r.bad
    t = enc.read_encoded(tmp_path / "out")
    ids = [f"data/train-00000-of-00002.parquet:{i}" for i in range(24)]
    assert column(t, "id").tolist() == ids + [f"data/train-00001-of-00002.parquet:{i}" for i in range(16)]
    np.testing.assert_array_equal(column(t, "label"), mnist.labels[:n])
    np.testing.assert_allclose(column(t, "mean"), reference.mean[:n], atol=1e-5)
    np.testing.assert_allclose(column(t, "neg_elbo"), reference.neg_elbo[:n], rtol=1e-5)
    # a lost middle shard is redone alone, read from its own row groups on
    (tmp_path / "out" / "part-00001.parquet").unlink()
    again = enc.encode_to_shards(CKPT, spec, tmp_path / "out", shard_size=16, batch_size=5)
    assert again.written == ["part-00001.parquet"] and again.encoded == 16
    assert column(enc.read_encoded(tmp_path / "out"), "id").tolist() == column(t, "id").tolist()


def test_an_out_folder_of_another_encode_is_refused(tmp_path, mnist):
    spec = write_npz(tmp_path / "first.npz", mnist, 20)
    enc.encode_to_shards(CKPT, spec, tmp_path / "out", shard_size=10)
    with pytest.raises(enc.DatasetError, match="holds shards of another encode .shard_size differ"):
        enc.encode_to_shards(CKPT, spec, tmp_path / "out", shard_size=5)


def test_ray_is_imported_only_by_the_ray_engine():
    code = "import sys, core.encode\nassert 'ray' not in sys.modules and 'torch' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
