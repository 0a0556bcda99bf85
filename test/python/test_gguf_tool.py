"""amxq-gguf on a llama-shaped model written by gguf-py's GGUFWriter, and on
corrupted copies of it.

- The reader agrees with gguf-py's GGUFReader on every tensor (name, type,
  shape, file offset, size) and with gguf-py's table of type sizes.
- --check packs and checks every supported 2-D tensor and lists the others as
  skipped; --bench and the progress bar run.
- Every corrupted copy, and a few hundred random mutants, end with a one-line
  error (or a clean run) and never a crash; the tool and the parser's fuzz
  target run under ASan+UBSan here when the build has them.
"""
import os
import re
import struct
import subprocess

import numpy as np
import pytest

import gguf
import ggufgen


def _tool_path(var, required=True):
    path = os.environ.get(var, "")
    if required and (not path or not os.path.exists(path)):
        pytest.fail(f"{var} is not set to a built program (run through meson test)")
    return path if path and os.path.exists(path) else None


@pytest.fixture(scope="session")
def tool():
    return _tool_path("AMXQ_GGUF_TOOL")


@pytest.fixture(scope="session")
def checked_tool():
    """The sanitizer build where there is one: corrupt input must not over-read."""
    return _tool_path("AMXQ_GGUF_TOOL_SAN", required=False) or _tool_path("AMXQ_GGUF_TOOL")


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "model.gguf"
    tensors = ggufgen.write_model(path)
    return path, tensors


@pytest.fixture(scope="session")
def model64(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf64") / "model64.gguf"
    tensors = ggufgen.write_model(path, seed=11, alignment=64)
    return path, tensors


def run(prog, *args, check_rc=None):
    r = subprocess.run([prog, *map(str, args)], capture_output=True, timeout=300)
    # decoded by hand: text mode would turn the progress bar's \r into \n
    r.stdout, r.stderr = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    assert r.returncode >= 0, f"{prog} {args} died of signal {-r.returncode}: {r.stderr[-2000:]}"
    for marker in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
        assert marker not in r.stderr, f"{prog} {args}: sanitizer report:\n{r.stderr[-4000:]}"
    if check_rc is not None:
        assert r.returncode == check_rc, f"{prog} {args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def _supported_2d(tensors):
    return [t for t in tensors if t[1] in ggufgen.SUPPORTED and len(t[2]) == 2]


def test_type_table_matches_gguf_py(tool):
    ours = {}
    for line in run(tool, "--types", check_rc=0).stdout.splitlines():
        tid, name, bs, bb, _ = line.split()
        ours[int(tid)] = (name, int(bs), int(bb))
    for qt, (bs, bb) in gguf.GGML_QUANT_SIZES.items():
        assert int(qt) in ours, f"{qt.name} ({int(qt)}) unknown to amxq-gguf"
        name, obs, obb = ours[int(qt)]
        assert name == qt.name
        if qt.name == "Q8_1":
            # gguf-py still has the old 40-byte block; ggml's block_q8_1 is 36 bytes
            # (fp16 d and s), and Q8_1 never appears in model files
            assert (obs, obb) == (32, 36)
            continue
        assert (obs, obb) == (bs, bb), f"{qt.name}: ours {(obs, obb)}, gguf-py {(bs, bb)}"


@pytest.mark.parametrize("which", ["model", "model64"])
def test_reader_agrees_with_gguf_py(tool, which, request):
    path, _ = request.getfixturevalue(which)
    listed = [line.split("\t") for line in run(tool, "--list", path, check_rc=0).stdout.splitlines()]
    r = gguf.GGUFReader(str(path))
    assert len(listed) == len(r.tensors)
    for (name, tname, dims, off, nbytes), t in zip(listed, r.tensors):
        assert name == t.name
        assert tname == t.tensor_type.name
        assert dims == "[" + ", ".join(str(int(d)) for d in t.shape) + "]"
        assert int(off) == t.data_offset, name
        assert int(nbytes) == t.n_bytes, name


def test_version_2_reads_like_3(tool, model, tmp_path):
    path, _ = model
    data = bytearray(path.read_bytes())
    assert struct.unpack_from("<I", data, 4)[0] == 3
    struct.pack_into("<I", data, 4, 2)
    v2 = tmp_path / "v2.gguf"
    v2.write_bytes(bytes(data))
    assert run(tool, "--list", v2, check_rc=0).stdout == run(tool, "--list", path, check_rc=0).stdout


def _type_rows(out):
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+[\d.]+\s+[\d.]+ ms$", line)
        if m and m.group(1) != "total":
            rows[m.group(1)] = (int(m.group(2)), int(m.group(3)), int(m.group(4)))
    return rows


@pytest.mark.parametrize("which", ["model", "model64"])
def test_check_packs_and_checks_every_supported_tensor(checked_tool, which, request):
    path, tensors = request.getfixturevalue(which)
    r = run(checked_tool, "--check", "--threads", 2, path, check_rc=0)
    out = r.stdout
    want = _supported_2d(tensors)
    m = re.search(r"^check: (\d+) tensors packed and checked, worst relative difference (\S+) .*: ok$", out, re.M)
    assert m, out
    assert int(m.group(1)) == len(want)
    assert float(m.group(2)) <= 1e-3
    # per type: count and GGUF bytes as written
    rows = _type_rows(out)
    assert set(rows) == set(ggufgen.SUPPORTED), out
    for t in ggufgen.SUPPORTED:
        mine = [x for x in want if x[1] == t]
        assert rows[t][0] == len(mine)
        assert rows[t][1] == sum(x[3].nbytes for x in mine)
        assert rows[t][2] >= rows[t][1]  # packed bytes include the header
    # everything else is listed as skipped, by name
    skipped = [x for x in tensors if x not in want]
    assert f"skipped {len(skipped)} tensors:" in out
    for name, t, _, _ in skipped:
        assert re.search(rf"^  {re.escape(name)}\s+{t}\s", out, re.M), f"{name} not listed as skipped"
    assert "FAILED" not in out


def test_check_scalar_is_exact(tool, model):
    out = run(tool, "--check", "--isa", "scalar", model[0], check_rc=0).stdout
    assert re.search(r"worst relative difference 0 ", out), out


@pytest.mark.parametrize("isa", ["avx512_vnni", "amx"])
def test_check_forced_isa(tool, model, isa):
    r = run(tool, "--check", "--isa", isa, model[0])
    if r.returncode == 1 and "not available here" in r.stderr:
        pytest.skip(f"{isa}: {r.stderr.strip()}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FAILED" not in r.stdout


def test_progress_bar_and_bench(tool, model):
    path, tensors = model
    r = run(tool, "--progress", "--bench", "--threads", 1, path, check_rc=0)
    n = len(_supported_2d(tensors))
    assert r.stderr.startswith("\r[") and r.stderr.rstrip().endswith(f"] {n}/{n} tensors, 0.7/0.7 MiB"), r.stderr
    shapes = {(t, s) for _, t, s, _ in _supported_2d(tensors)}
    bench = r.stdout[r.stdout.index("bench:"):].splitlines()[2:]
    assert len(bench) == len(shapes), r.stdout
    for line in bench:
        f = line.split()
        assert (f[0], (int(f[1]), int(f[2]))) in shapes
        assert float(f[4]) > 0 and float(f[7]) > 0


def test_no_progress_when_not_a_terminal(tool, model):
    assert run(tool, model[0], check_rc=0).stderr == ""


def test_usage_and_file_errors(tool, tmp_path):
    assert run(tool).returncode == 2
    assert run(tool, "--threads", "0", "x.gguf").returncode == 2
    assert run(tool, "--isa", "sse", "x.gguf").returncode == 2
    r = run(tool, tmp_path / "missing.gguf", check_rc=1)
    assert r.stderr.count("\n") == 1 and "No such file" in r.stderr
    r = run(tool, tmp_path, check_rc=1)
    assert r.stderr.count("\n") == 1 and "not a regular file" in r.stderr


@pytest.fixture(scope="session")
def corrupted(model64, tmp_path_factory):
    d = tmp_path_factory.mktemp("corrupt")
    out = []
    for label, blob, frag in ggufgen.corrupted_copies(model64[0]):
        p = d / f"{label}.gguf"
        p.write_bytes(blob)
        out.append((label, p, frag))
    return out


def test_corrupted_copies_one_line_error(checked_tool, corrupted):
    for label, path, frag in corrupted:
        r = run(checked_tool, "--check", path)
        assert r.returncode == 1, f"{label}: exit {r.returncode}\n{r.stdout}{r.stderr}"
        assert r.stdout == "", f"{label}: printed a report for a bad file"
        assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"amxq-gguf: {path}: "), f"{label}: {r.stderr!r}"
        assert frag in r.stderr, f"{label}: {r.stderr.strip()!r} does not say {frag!r}"


def test_random_mutants_never_crash(checked_tool, model64, tmp_path):
    replay = _tool_path("AMXQ_GGUF_REPLAY")
    files = []
    for i, blob in enumerate(ggufgen.mutants(model64[0], 300, seed=3)):
        p = tmp_path / f"m{i:03d}.gguf"
        p.write_bytes(blob)
        files.append(p)
    r = run(replay, *files, check_rc=0)
    parsed, refused = map(int, re.search(r"(\d+) parsed, (\d+) refused", r.stdout).groups())
    assert parsed + refused == len(files) and refused > len(files) // 2, r.stdout
    for p in files[:40]:
        r = run(checked_tool, p)
        assert r.returncode in (0, 1), f"{p.name}: exit {r.returncode}: {r.stderr}"
        if r.returncode == 1:
            assert r.stderr.count("\n") == 1, f"{p.name}: {r.stderr!r}"
