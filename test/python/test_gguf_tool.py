"""amxq-gguf on a llama-shaped model written by gguf-py's GGUFWriter, and on
corrupted copies of it.

- The reader agrees with gguf-py's GGUFReader on every tensor (name, type,
  shape, file offset, size) and with gguf-py's table of type sizes.
- --check packs and checks every supported 2-D tensor and lists the others as
  skipped; --bench and the progress bar run.
- Every corrupted copy, and a few hundred random mutants, end with a one-line
  error (or a clean run) and never a crash; the tool and the parser's fuzz
  target run under ASan+UBSan here when the build has them.
- --check names the kernel of each (type, m) and reaches the tiles of AMX
  handles (on the emulator, in the sanitizer build); --help lists every option.
- --save writes the packed model file its format comment describes; opening
  it in place and --check against the GGUF pass; truncated files, bad index
  fields and changed bytes in the index or an image end with one line and
  exit 1 (the tool under ASan+UBSan where there is that build).
"""
import os
import re
import struct
import subprocess

import numpy as np
import pytest

import amxq
import gguf
import ggufgen

# the library's type table (amx_type_count / amx_type_at), not the generator's
LIBRARY_TYPES = tuple(amxq.TYPES)


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
    return [t for t in tensors if t[1] in LIBRARY_TYPES and len(t[2]) == 2]


def _types_of(tensors):
    return {t[1] for t in tensors}


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
    assert set(rows) == _types_of(want), out
    for t in _types_of(want):
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


def test_whole_model_every_library_type(checked_tool, tmp_path):
    """The whole-model check: a model with a matrix of every type in the
    library's table (amx_type_count / amx_type_at) plus F32 norms and a 1-D
    rope_freqs. --check packs and checks every matrix and skips exactly the
    tensors that are not matrices, listing each. Fails when the test
    generator cannot make blocks of a type the library supports."""
    missing = [t for t in LIBRARY_TYPES if t not in ggufgen.GENERATORS]
    assert not missing, f"ggufgen.GENERATORS has no block generator for the library's {missing}"
    path = tmp_path / "every-type.gguf"
    tensors = ggufgen.write_model(path, types=LIBRARY_TYPES, unsupported=())
    matrices = [x for x in tensors if len(x[2]) == 2]
    others = [x for x in tensors if len(x[2]) != 2]
    assert _types_of(matrices) == set(LIBRARY_TYPES) and others and _types_of(others) == {"F32"}
    out = run(checked_tool, "--check", "--threads", 2, path, check_rc=0).stdout
    m = re.search(r"^check: (\d+) tensors packed and checked, worst relative difference (\S+) .*: ok$", out, re.M)
    assert m and int(m.group(1)) == len(matrices), out
    assert float(m.group(2)) <= 1e-3
    rows = _type_rows(out)
    assert set(rows) == set(LIBRARY_TYPES), out
    for t in LIBRARY_TYPES:
        mine = [x for x in matrices if x[1] == t]
        assert rows[t][:2] == (len(mine), sum(x[3].nbytes for x in mine)), (t, out)
    assert f"skipped {len(others)} tensors:" in out, out
    for name, t, _, _ in others:
        assert re.search(rf"^  {re.escape(name)}\s+{t}\s", out, re.M), f"{name} not listed as skipped"
    assert set(t for t, _ in _check_rows(out)) == set(LIBRARY_TYPES)
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
    mib = sum(data.nbytes for _, _, _, data in _supported_2d(tensors)) / 1048576
    assert r.stderr.startswith("\r[") and r.stderr.rstrip().endswith(f"] {n}/{n} tensors, {mib:.1f}/{mib:.1f} MiB"), \
        r.stderr
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


# ---- --help ------------------------------------------------------------------

def test_help_lists_every_option(tool):
    r = run(tool, "--help", check_rc=0)
    assert r.stderr == ""
    for opt in ("--save", "--check", "--check-m", "--no-verify", "--isa", "--threads", "--bench", "--progress",
                "--no-progress", "--list", "--types", "--help"):
        assert re.search(rf"^\s+(-h, )?{opt}\b", r.stdout, re.M), f"--help does not list {opt}:\n{r.stdout}"
    assert run(tool, "-h", check_rc=0).stdout == r.stdout


# ---- --check names the kernels it ran -------------------------------------------

def _check_rows(out):
    """{(type, m): kernel} from --check's table."""
    rows = {}
    for line in out[out.index("\ncheck: one multiply") + 1:].splitlines()[2:]:
        if line.startswith("check:"):
            break
        f = line.split()
        rows[(f[0], int(f[1]))] = f[2]
    return rows


# types without an AMX row (README: AMX-FP16 is newer than the AMX machines
# amxq targets), packed for AVX-512 even where tiles run
NO_TILE_TYPES = {"F16"}


def test_check_reaches_the_tiles_of_amx_handles(checked_tool, model):
    """The default rows are m=4 and, on AMX handles, their tile threshold: the
    sanitizer build runs AMX handles on the tile emulator, so there both kernels
    of every type must appear, by name."""
    out = run(checked_tool, "--check", model[0], check_rc=0).stdout
    rows = _check_rows(out)
    types = {t for t, _ in rows}
    assert types == _types_of(_supported_2d(model[1])), out
    amx = "amx" in re.search(r"kernel families: ([\w, ]+);", out).group(1).split(", ")
    for t in types:
        ms = sorted(m for tt, m in rows if tt == t)
        assert ms[0] == 4 and rows[(t, 4)].startswith("vnni512_"), out
        if amx and t not in NO_TILE_TYPES:
            assert len(ms) == 2 and ms[1] > 4 and rows[(t, ms[1])].startswith("amx_"), out
        else:
            assert ms == [4], out


def test_check_m_list(tool, model):
    out = run(tool, "--check", "--check-m", "1,16", model[0], check_rc=0).stdout
    rows = _check_rows(out)
    assert {m for _, m in rows} == {1, 16}, out
    assert "m = 1, 16" in out
    for bad in ("0", "1,,2", "1,2,3,4,5,6,7,8,9", "4097", "x"):
        assert run(tool, "--check-m", bad, model[0]).returncode == 2, bad


# ---- packed model files ----------------------------------------------------------

def _fnv1a(data, h=0xcbf29ce484222325):
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def _parse_packed(blob):
    """The packed model file as the format comment in amxq-gguf.c describes it."""
    (magic, version, header_bytes, count, index_bytes, data_offset, file_bytes, checksum, align,
     zero) = struct.unpack_from("<8sIIQQQQQII", blob, 0)
    assert (magic, version, header_bytes, align, zero) == (b"AMXQMODL", 1, 64, 64, 0)
    assert file_bytes == len(blob) and data_offset % 64 == 0 and data_offset >= 64 + index_bytes
    head = bytearray(blob[:data_offset])
    head[48:56] = bytes(8)
    assert _fnv1a(head) == checksum
    entries, pos, end = [], 64, data_offset
    for _ in range(count):
        off, nbytes, n, k, typ, nl = struct.unpack_from("<QQqqII", blob, pos)
        entries.append({"name": blob[pos + 40:pos + 40 + nl].decode(), "offset": off, "bytes": nbytes, "n": n,
                        "k": k, "type": typ, "entry": pos})
        pos += 40 + nl
        assert off % 64 == 0 and off >= end and off + nbytes <= len(blob)
        assert blob[end:off] == bytes(off - end)
        end = off + nbytes
    assert pos == 64 + index_bytes and blob[end:] == bytes(len(blob) - end)
    return entries


@pytest.fixture(scope="session")
def packed(checked_tool, model, tmp_path_factory):
    """The small model saved by the tool (the sanitizer build where there is
    one: its AMX handles run on the tile emulator, so open it with that build)."""
    path = tmp_path_factory.mktemp("packed") / "model.amxq"
    r = run(checked_tool, "--save", path, "--threads", 2, model[0], check_rc=0)
    n = len(_supported_2d(model[1]))
    assert re.search(rf"^saved {n} tensors to {re.escape(str(path))}: {path.stat().st_size} bytes", r.stdout, re.M)
    assert [p.name for p in path.parent.iterdir()] == ["model.amxq"]  # no temporary file left
    return path


def test_save_writes_the_documented_format(packed, model):
    blob = packed.read_bytes()
    entries = _parse_packed(blob)
    want = _supported_2d(model[1])
    assert [e["name"] for e in entries] == [t[0] for t in want]  # the GGUF's order
    for e, (name, t, shape, _) in zip(entries, want):
        assert (e["type"], e["n"], e["k"]) == (int(gguf.GGMLQuantizationType[t]), shape[0], shape[1]), name
        img = blob[e["offset"]:e["offset"] + e["bytes"]]
        assert img[:8] == b"AMXQPACK" and struct.unpack_from("<qq", img, 24) == (e["n"], e["k"]), name


def test_save_then_check(checked_tool, packed, model):
    n = len(_supported_2d(model[1]))
    out = run(checked_tool, "--check", packed, model[0], check_rc=0).stdout
    assert re.search(rf"^opened {n} of {n} tensors in place .*checksums verified", out, re.M), out
    assert re.search(rf"^check: {n} tensors opened and checked, worst relative difference \S+ .*: ok$", out, re.M), out
    assert f"check: the blocks of every image are {model[0]}'s: ok" in out
    assert set(t for t, _ in _check_rows(out)) == _types_of(_supported_2d(model[1]))
    assert "FAILED" not in out
    assert "opened" in run(checked_tool, "--check", "--no-verify", packed, model[0], check_rc=0).stdout


def test_open_packed_file(checked_tool, packed, model):
    n = len(_supported_2d(model[1]))
    for extra in ((), ("--no-verify",)):
        out = run(checked_tool, *extra, packed, check_rc=0).stdout
        verified = "not verified" if extra else "verified"
        assert re.search(rf"^opened {n} of {n} tensors in place \(kernel families: [\w, ]+; checksums {verified}\)", out,
                         re.M), out
        assert re.search(r"^first multiply: m=1 on token_embd.weight \(Q4_K, 260 x 256, \w+\) took", out, re.M), out
        rows = _type_rows(out)
        assert set(rows) == _types_of(_supported_2d(model[1]))
    listed = [line.split("\t") for line in run(checked_tool, "--list", packed, check_rc=0).stdout.splitlines()]
    entries = _parse_packed(packed.read_bytes())
    assert [(x[0], int(x[3]), int(x[4])) for x in listed] == [(e["name"], e["offset"], e["bytes"]) for e in entries]


def test_check_against_another_model_fails(checked_tool, packed, model64):
    """model64 has the same names, types and shapes, other weights."""
    r = run(checked_tool, "--check", packed, model64[0], check_rc=3)
    assert re.search(r"^check: FAILED: the blocks of \d+ tensors differ from ", r.stdout, re.M), r.stdout


def test_packed_file_usage(tool, packed, model):
    assert run(tool, packed, model[0]).returncode == 2  # two files only with --check
    assert run(tool, "--check", packed).returncode == 2  # the check needs the model
    assert run(tool, "--save", packed.parent / "again.amxq", packed).returncode == 2
    r = run(tool, "--check", model[0], packed, check_rc=1)  # the wrong way round
    assert "a GGUF file, not a packed one" in r.stderr
    r = run(tool, "--save", model[0], model[0], check_rc=1)
    assert "refusing to replace it" in r.stderr


def _corrupt(blob, label):
    entries = _parse_packed(blob)
    b = bytearray(blob)
    e1 = entries[1]
    if label.startswith("truncated_"):
        return bytes(b[:{"header": 40, "index": 100, "image": entries[3]["offset"] + 200,
                         "last": len(b) - 64}[label[10:]]])
    if label == "extra_byte":
        return bytes(b) + b"\0"
    if label.startswith("offset_"):
        off = {"unaligned": e1["offset"] + 8, "overlap": e1["offset"] - 64, "huge": 1 << 62,
               "wraps": (1 << 64) - 64}[label[7:]]
        struct.pack_into("<Q", b, e1["entry"], off)
    elif label == "image_bytes_huge":
        struct.pack_into("<Q", b, e1["entry"] + 8, (1 << 64) - 64)
    elif label == "name_length":
        struct.pack_into("<I", b, e1["entry"] + 36, 1 << 31)
    elif label == "count":
        struct.pack_into("<Q", b, 16, 1 << 60)
    elif label == "index_bytes":
        struct.pack_into("<Q", b, 24, len(b))
    elif label == "version":
        struct.pack_into("<I", b, 8, 2)
    elif label == "name_byte":
        b[e1["entry"] + 40] ^= 0x01
    elif label == "padding_byte":  # the last byte before the images: padding, or the last name's
        b[struct.unpack_from("<Q", b, 32)[0] - 1] ^= 0x01
    elif label == "gap_byte":  # a byte after the last image
        b += bytes(64)
        struct.pack_into("<Q", b, 40, len(b))
        b[-1] = 1
        head = bytearray(b[:entries[0]["offset"]])
        head[48:56] = bytes(8)
        struct.pack_into("<Q", b, 48, _fnv1a(head))
    elif label == "payload_byte":
        b[e1["offset"] + 128 + 100] ^= 0x10
    elif label == "image_header":
        b[e1["offset"] + 24] ^= 0x01  # the image's n
    return bytes(b)


CORRUPTIONS = {
    "truncated_header": "too short for a packed model file",
    "truncated_index": "truncated",
    "truncated_image": "truncated",
    "truncated_last": "truncated",
    "extra_byte": "1 bytes longer than its header says",
    "offset_unaligned": "image offset",
    "offset_overlap": "the end of the previous image",
    "offset_huge": "runs past the end of the file",
    "offset_wraps": "runs past the end of the file",
    "image_bytes_huge": "runs past the end of the file",
    "name_length": "name",
    "count": "tensors cannot fit in",
    "index_bytes": "runs past the end of the file",
    "version": "format version 2",
    "name_byte": "index checksum mismatch",
    "padding_byte": "index checksum mismatch",
    "gap_byte": "the bytes after the last image (offset",
    "payload_byte": "blk.0.attn_q.weight: image at offset",
    "image_header": "blk.0.attn_q.weight: image at offset",
}


@pytest.mark.parametrize("label", sorted(CORRUPTIONS))
def test_corrupted_packed_file(checked_tool, packed, model, tmp_path, label):
    """One line on stderr, exit 1, whether the file is opened, checked or
    listed (--list reads the index only, not the images)."""
    bad = tmp_path / f"{label}.amxq"
    bad.write_bytes(_corrupt(packed.read_bytes(), label))
    in_image = label in ("payload_byte", "image_header")
    for args in ((bad,), ("--check", bad, model[0])) + ((("--list", bad),) if not in_image else ()):
        r = run(checked_tool, *args)
        assert r.returncode == 1, f"{label} {args}: exit {r.returncode}\n{r.stdout}{r.stderr}"
        assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"amxq-gguf: {bad}: "), f"{label}: {r.stderr!r}"
        assert CORRUPTIONS[label] in r.stderr, f"{label}: {r.stderr.strip()!r}"


def test_payload_byte_without_checksums(checked_tool, packed, model, tmp_path):
    """--no-verify skips the checksum; the check still finds the changed blocks."""
    bad = tmp_path / "payload.amxq"
    bad.write_bytes(_corrupt(packed.read_bytes(), "payload_byte"))
    r = run(checked_tool, "--check", "--no-verify", bad, model[0], check_rc=3)
    assert re.search(r"^check: FAILED: the blocks of 1 tensors differ from .*: blk.0.attn_q.weight$", r.stdout,
                     re.M), r.stdout


def test_packed_mutants_never_crash(checked_tool, packed, model, tmp_path):
    blob = packed.read_bytes()
    rng = np.random.default_rng(5)
    index_end = _parse_packed(blob)[-1]["offset"]
    for i in range(30):
        b = bytearray(blob)
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(0, index_end if i % 2 else len(b)))
            b[pos] = int(rng.integers(0, 256))
        if i % 5 == 4:
            b = b[:int(rng.integers(0, len(b)))]
        p = tmp_path / f"m{i:02d}.amxq"
        p.write_bytes(bytes(b))
        r = run(checked_tool, "--check", p, model[0])
        assert r.returncode in (0, 1, 3), f"{p.name}: exit {r.returncode}: {r.stderr}"
        if r.returncode == 1:
            assert r.stderr.startswith(f"amxq-gguf: {p}: "), f"{p.name}: {r.stderr!r}"
