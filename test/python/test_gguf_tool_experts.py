"""amxq-gguf on a mixture-of-experts GGUF file written by gguf-py: 3-D expert
tensors (ne = {k, n, n_expert}) are packed as expert handles, --check
multiplies them (every row to every expert) against the scalar reference,
--save writes them into the packed model file, and opening that file and
--check against the GGUF pass. The images the file holds are opened through
the Python binding and multiply exactly as pack_experts of the GGUF blocks.
"""
import os
import struct
import subprocess

import numpy as np
import pytest

import amxq
import gguf
import ggufgen

# (name, type, (n_expert, n, k)) or (name, type, (n, k))
TENSORS = [
    ("blk.0.ffn_gate_inp.weight", "Q8_0", (8, 256)),
    ("blk.0.ffn_up_exps.weight", "Q4_K", (8, 48, 256)),
    ("blk.0.ffn_down_exps.weight", "Q8_0", (8, 256, 64)),
    ("blk.0.ffn_gate_exps.weight", "IQ4_NL", (3, 33, 96)),
]


def _tool():
    path = os.environ.get("AMXQ_GGUF_TOOL", "")
    if not path or not os.path.exists(path):
        pytest.fail("AMXQ_GGUF_TOOL is not set to the built amxq-gguf (run through meson test)")
    return path


def run(*args, rc=0):
    r = subprocess.run([_tool(), *map(str, args)], capture_output=True, timeout=300)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    assert r.returncode == rc, f"amxq-gguf {args}: exit {r.returncode}\n{out}\n{err}"
    return out + err


@pytest.fixture(scope="module")
def moe(tmp_path_factory):
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("moe") / "moe.gguf"
    w = gguf.GGUFWriter(str(path), arch="qwen3moe")
    w.add_block_count(1)
    data = {}
    for name, t, shape in TENSORS:
        if len(shape) == 3:
            blocks = np.stack([ggufgen.weight_blocks(rng, t, shape[1], shape[2]) for _ in range(shape[0])])
        else:
            blocks = ggufgen.weight_blocks(rng, t, *shape)
        data[name] = blocks
        w.add_tensor(name, blocks, raw_dtype=ggufgen.QT[t])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path, data


def test_gguf_py_writes_3d(moe):
    path, _ = moe
    r = gguf.GGUFReader(str(path))
    shapes = {t.name: [int(d) for d in t.shape] for t in r.tensors}
    assert shapes["blk.0.ffn_up_exps.weight"] == [256, 48, 8]  # ne = {k, n, n_expert}


@pytest.mark.parametrize("isa", ["auto", "scalar"])
def test_check_packs_expert_tensors(moe, isa):
    path, _ = moe
    out = run("--check", "--isa", isa, "--check-m", "1,17", path)
    assert f"packed {len(TENSORS)} of {len(TENSORS)} tensors" in out and "skipped 0 tensors" in out
    assert f"{len(TENSORS)} tensors packed and checked" in out and out.rstrip().endswith(": ok")


def test_save_open_check(moe, tmp_path):
    path, data = moe
    packed = tmp_path / "moe.amxq"
    run("--save", packed, path)
    run(packed)                      # opened in place, first multiply
    run("--check", packed, path)     # every image against its GGUF tensor, blocks and products
    # the images through the binding: the index gives each one's offset and size
    raw = packed.read_bytes()
    count, index_bytes = struct.unpack_from("<QQ", raw, 16)
    at = 64
    seen = {}
    for _ in range(count):
        off, size, n, k, t, name_len = struct.unpack_from("<QQqqII", raw, at)
        name = raw[at + 40:at + 40 + name_len].decode()
        seen[name] = (off, size, n, k)
        at += 40 + name_len
    x = np.random.default_rng(5).standard_normal((9, 256)).astype(np.float32)
    off, size, n, k = seen["blk.0.ffn_up_exps.weight"]
    ids = np.random.default_rng(6).integers(0, 8, (9, 2)).astype(np.int32)
    with amxq.open_memory(raw[off:off + size]) as img, amxq.pack_experts("Q4_K", 8, 48, 256,
                                                                          data["blk.0.ffn_up_exps.weight"]) as e:
        assert img.n_expert == 8 and (n, k) == (48, 256)
        assert np.array_equal(img.gemm_experts(x, ids), e.gemm_experts(x, ids))


def test_corrupt_expert_image_fails(moe, tmp_path):
    path, _ = moe
    packed = tmp_path / "moe.amxq"
    run("--save", packed, path)
    raw = bytearray(packed.read_bytes())
    count, = struct.unpack_from("<Q", raw, 16)
    at = 64
    for _ in range(count):
        off, size, n, k, t, name_len = struct.unpack_from("<QQqqII", raw, at)
        if raw[at + 40:at + 40 + name_len] == b"blk.0.ffn_down_exps.weight":
            raw[off + 104] ^= 1  # the image's n_expert
        at += 40 + name_len
    bad = tmp_path / "bad.amxq"
    bad.write_bytes(bytes(raw))
    out = run(bad, rc=1)
    assert "image at offset" in out
