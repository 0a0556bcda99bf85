"""The Python binding's packed-weight images: pack_size, pack_into, save,
to_bytes, save_to, open, open_memory, and who owns the packed bytes.

An image is a handle's packed bytes as they are (amxq.h, "Packed weights in
caller memory and in files"), so every way of loading one must give a handle
that multiplies bitwise like the one that was packed; a damaged image must be
refused with the status that names the damage; and an image used in place
must keep the Python object that holds it alive as long as the handle.
"""
import errno
import gc
import mmap
import os
import pathlib
import struct
import subprocess
import sys
import weakref

import numpy as np
import pytest

import amxq
import ggufgen

HEADER = 128


def _isas():
    """Every kernel family this machine runs."""
    return amxq.cpu_info()["available"]


def _pack(t, n, k, blocks, isa):
    try:
        return amxq.Weights(t, n, k, blocks, isa=isa)
    except amxq.AmxError as e:
        if e.name == "AMX_ERR_UNSUPPORTED_TYPE":
            pytest.skip(f"no {isa} kernel for {t} in this build")
        raise


def _info(w):
    """info without the fields that say where the bytes live."""
    return {key: v for key, v in w.info.items() if key != "memory"}


@pytest.fixture
def q4k(rng):
    """Small Q4_K weights (an image of 14 KiB: heap memory, not mmap'd by malloc),
    packed by the library, and activations."""
    n, k = 40, 512
    blocks = ggufgen.weight_blocks(rng, "Q4_K", n, k)
    w = amxq.Weights("Q4_K", n, k, blocks)
    x = rng.standard_normal((5, k)).astype(np.float32)
    yield w, blocks, x, w.gemm(x)
    w.close()


# ---- round trips -------------------------------------------------------------------------------

@pytest.mark.parametrize("t", list(amxq.TYPES))
@pytest.mark.parametrize("isa", _isas())
def test_every_way_to_an_image_multiplies_bitwise_alike(tmp_path, rng, t, isa):
    n, k = 37, 512  # n: not a multiple of any panel width
    blocks = ggufgen.weight_blocks(rng, t, n, k)
    x = rng.standard_normal((17, k)).astype(np.float32)
    with _pack(t, n, k, blocks, isa) as w:
        y, info = w.gemm(x), _info(w)
        assert w.info["memory"] == "library" and w.buffer is None
        size, align = amxq.pack_size(t, n, k, isa=isa)
        assert size == info["packed_bytes"] and align == 64
        image = w.to_bytes()
        assert type(image) is bytes and len(image) == size
        path = tmp_path / f"{t}.amxq"
        w.save(path)
        assert path.read_bytes() == image

    # the header as amxq.h lays it out
    magic, fmt, _, tid, isa_id, hn, hk = struct.unpack_from("<8sIIIIqq", image)
    layout = image[40:72].rstrip(b"\0").decode()
    header_bytes, payload_bytes, image_align = struct.unpack_from("<QQI", image, 72)
    assert (magic, fmt, tid, isa_id, hn, hk) == (b"AMXQPACK", 1, amxq.TYPES[t], amxq.ISAS[info["isa"]], n, k)
    assert layout == info["layout"] and header_bytes == HEADER and image_align == 64
    assert header_bytes + payload_bytes == size and payload_bytes % 64 == 0

    loaded = {
        "open": amxq.open(path),
        "open str, no verify": amxq.open(str(path), verify=False),
        "open bytes path": amxq.open(os.fsencode(path), threads=2),
        "open_memory bytes": amxq.open_memory(image),
        "open_memory aligned": amxq.open_memory(_aligned_copy(image), copy=False),
        "pack_into": amxq.pack_into(amxq.aligned_buffer(size), t, n, k, blocks, isa=isa),
    }
    memory = {"open": "mapped", "open str, no verify": "mapped", "open bytes path": "mapped",
              "open_memory bytes": "caller", "open_memory aligned": "caller", "pack_into": "caller"}
    for how, w2 in loaded.items():
        with w2:
            assert _info(w2) == info, how
            assert w2.info["memory"] == memory[how], how
            assert np.array_equal(w2.gemm(x), y), how
            assert np.array_equal(w2.gemm(x[:1]), y[:1]), how
            assert w2.to_bytes() == image, how  # the same image, whichever way it came
    assert loaded["open bytes path"].threads == 2


def _aligned_copy(data):
    buf = amxq.aligned_buffer(len(data))
    buf[:] = np.frombuffer(data, np.uint8)
    return buf


def test_pack_into_writes_the_image_into_the_callers_buffer(q4k):
    w, blocks, x, y = q4k
    size, _ = amxq.pack_size("Q4_K", 40, 512)
    raw = np.full(size + 4096 + 64, 0xAB, np.uint8)
    start = -raw.ctypes.data % 64
    buf = raw[start:start + size + 4096]  # larger than needed: fine, the rest untouched
    with amxq.pack_into(buf, "q4_k", 40, 512, blocks) as w2:
        assert w2.buffer is buf and w2.info["memory"] == "caller"
        assert np.array_equal(w2.gemm(x), y)
        assert buf[:size].tobytes() == w.to_bytes() and np.all(buf[size:] == 0xAB)
        # the image in the buffer opens as it is
        with amxq.open_memory(buf[:size], copy=False) as w3:
            assert np.array_equal(w3.gemm(x), y)
    assert w2.buffer is None  # closed: the buffer is let go


@pytest.mark.parametrize("make, status, what", [
    (lambda size: amxq.aligned_buffer(size - 1), "AMX_ERR_BUFFER", "must hold"),
    (lambda size: amxq.aligned_buffer(size + 1)[1:], "AMX_ERR_BUFFER", "aligned"),
    (lambda size: bytearray(0), "AMX_ERR_BUFFER", "must hold"),
    (lambda size: bytes(size + 64), "AMX_ERR_INVALID_ARG", "read-only"),
    (lambda size: np.zeros(2 * size, np.uint8)[::2], "AMX_ERR_INVALID_ARG", "contiguous"),
    (lambda size: 12345, "AMX_ERR_INVALID_ARG", "buffer protocol"),
])
def test_pack_into_refuses_unusable_buffers(q4k, make, status, what):
    _, blocks, _, _ = q4k
    size, _ = amxq.pack_size("Q4_K", 40, 512)
    buf = make(size)
    before = np.array(buf, copy=True) if isinstance(buf, np.ndarray) else None
    with pytest.raises(amxq.AmxError) as e:
        amxq.pack_into(buf, "Q4_K", 40, 512, blocks)
    assert e.value.name == status and what in e.value.message, str(e.value)
    if before is not None:
        assert np.array_equal(buf, before)  # nothing written


def test_pack_size_checks_like_packing():
    assert amxq.pack_size("Q4_0", 24, 64, isa="SCALAR") == amxq.pack_size(2, 24, 64, isa=1)
    for args, kw, status in [(("Q4_0", 24, 48), {}, "AMX_ERR_BAD_SHAPE"),
                             (("IQ2_XXS", 24, 256), {}, "AMX_ERR_UNSUPPORTED_TYPE"),
                             (("Q4_0", 0, 64), {}, "AMX_ERR_INVALID_ARG"),
                             (("Q4_0", 24, 64), {"isa": "sse"}, "AMX_ERR_INVALID_ARG"),
                             (("Q4_0", 24, 64), {"threads": -1}, "AMX_ERR_INVALID_ARG")]:
        with pytest.raises(amxq.AmxError) as e:
            amxq.pack_size(*args, **kw)
        assert e.value.name == status, (args, kw, str(e.value))
    if "amx" not in _isas():
        with pytest.raises(amxq.AmxError) as e:
            amxq.pack_size("Q4_0", 24, 64, isa="amx")
        assert e.value.name == "AMX_ERR_ISA_UNAVAILABLE"


def test_save_to_and_save_replace(tmp_path, q4k):
    w, _, _, _ = q4k
    image = w.to_bytes()
    big = bytearray(b"\xcd" * (len(image) + 10))
    assert w.save_to(big) == len(image)
    assert bytes(big[:len(image)]) == image and big[len(image):] == b"\xcd" * 10
    small = bytearray(len(image) - 1)
    with pytest.raises(amxq.AmxError) as e:
        w.save_to(small)
    assert e.value.name == "AMX_ERR_BUFFER" and str(len(image)) in e.value.message
    assert small == bytearray(len(image) - 1)
    with pytest.raises(amxq.AmxError, match="read-only"):
        w.save_to(bytes(len(image)))
    # save replaces a file whole, and leaves no temporary file behind
    path = tmp_path / "w.amxq"
    path.write_bytes(b"old contents")
    w.save(pathlib.Path(path))
    assert path.read_bytes() == image and os.listdir(tmp_path) == ["w.amxq"]


def test_closed_weights_cannot_be_saved(tmp_path, q4k):
    _, blocks, _, _ = q4k
    w = amxq.Weights("Q4_K", 40, 512, blocks)
    w.close()
    for use in (lambda: w.save(tmp_path / "x"), w.to_bytes, lambda: w.save_to(bytearray(10**5))):
        with pytest.raises(amxq.AmxError, match="freed"):
            use()
    assert not os.listdir(tmp_path)


# ---- damaged images and bad arguments ----------------------------------------------------------

def _damaged(image):
    """(name, bytes, status) for copies of a good image, each damaged one way."""
    def patch(offset, fmt, value):
        b = bytearray(image)
        struct.pack_into(fmt, b, offset, value)
        return bytes(b)
    flipped = bytearray(image)
    flipped[HEADER + len(image[HEADER:]) // 2] ^= 0x10
    return [
        ("empty", b"", "AMX_ERR_BAD_FORMAT"),
        ("not an image", b"GGUF" + bytes(len(image) - 4), "AMX_ERR_BAD_FORMAT"),
        ("magic", b"AMXQPACX" + image[8:], "AMX_ERR_BAD_FORMAT"),
        ("format version", patch(8, "<I", 3), "AMX_ERR_VERSION"),
        # format 2 is an expert tensor's: a matrix image relabelled has no n_expert
        ("format 2 without experts", patch(8, "<I", 2), "AMX_ERR_BAD_FORMAT"),
        ("n_expert in format 1", patch(104, "<q", 2), "AMX_ERR_BAD_FORMAT"),
        ("layout version", patch(12, "<I", 0xFFFF), "AMX_ERR_VERSION"),
        ("type", patch(16, "<I", 99), "AMX_ERR_UNSUPPORTED_TYPE"),
        ("family", patch(20, "<I", 0), "AMX_ERR_BAD_FORMAT"),
        ("n", patch(24, "<q", 1000), "AMX_ERR_BAD_FORMAT"),  # inconsistent with the payload size
        ("n negative", patch(24, "<q", -40), "AMX_ERR_BAD_FORMAT"),
        ("k", patch(32, "<q", 500), "AMX_ERR_BAD_FORMAT"),   # not a multiple of the block
        ("alignment", patch(88, "<I", 32), "AMX_ERR_BAD_FORMAT"),
        ("half a header", image[:HEADER // 2], "AMX_ERR_TRUNCATED"),
        ("header only", image[:HEADER], "AMX_ERR_TRUNCATED"),
        ("truncated", image[:-1], "AMX_ERR_TRUNCATED"),
        ("truncated by a block", image[:-64], "AMX_ERR_TRUNCATED"),
        ("a byte too many", image + b"\0", "AMX_ERR_SIZE_MISMATCH"),
        ("payload byte flipped", bytes(flipped), "AMX_ERR_CHECKSUM"),
        ("checksum", patch(96, "<Q", struct.unpack_from("<Q", image, 96)[0] ^ 1), "AMX_ERR_CHECKSUM"),
    ]


def test_damaged_images_refused_with_the_status_that_names_the_damage(tmp_path, q4k):
    w, _, x, y = q4k
    image = w.to_bytes()
    for name, data, status in _damaged(image):
        path = tmp_path / "damaged.amxq"
        path.write_bytes(data)
        for how, load in [("open", lambda: amxq.open(path)),
                          ("open_memory", lambda: amxq.open_memory(data)),
                          ("open_memory bytearray", lambda: amxq.open_memory(bytearray(data)))]:
            with pytest.raises(amxq.AmxError) as e:
                load()
            assert e.value.name == status, (name, how, str(e.value))
    # verify=False skips only the checksum: a flipped payload byte then loads (and is the caller's problem)
    for name, data, status in _damaged(image):
        if status == "AMX_ERR_CHECKSUM":
            with amxq.open_memory(data, verify=False) as w2:
                assert w2.gemm(x).shape == y.shape
            path.write_bytes(data)
            amxq.open(path, verify=False).close()


def test_open_io_errors_carry_errno(tmp_path, q4k):
    w, _, _, _ = q4k
    for path, err in [(tmp_path / "missing.amxq", errno.ENOENT), (tmp_path, errno.EINVAL)]:
        with pytest.raises(amxq.AmxError) as e:
            amxq.open(path)
        assert e.value.name == "AMX_ERR_IO" and e.value.errno == err, str(e.value)
        assert str(path) in e.value.message and os.strerror(err) in e.value.message
    with pytest.raises(amxq.AmxError) as e:
        w.save(tmp_path / "no" / "such" / "dir.amxq")
    assert e.value.name == "AMX_ERR_IO" and e.value.errno == errno.ENOENT, str(e.value)
    for bad in ("", b"a\0b", 12, None):
        with pytest.raises(amxq.AmxError) as e:
            amxq.open(bad)
        assert e.value.name == "AMX_ERR_INVALID_ARG", (bad, str(e.value))
        with pytest.raises(amxq.AmxError) as e:
            w.save(bad)
        assert e.value.name == "AMX_ERR_INVALID_ARG", (bad, str(e.value))
    assert amxq.AmxError(1, "x").errno is None


@pytest.mark.parametrize("bad, kw, what", [
    (12345, {}, "buffer protocol"),
    ("a string", {}, "buffer protocol"),
    (np.zeros(2 * 20000, np.uint8)[::2], {}, "contiguous"),
    (b"", {"copy": "yes"}, "copy"),
    (b"", {"threads": 5000}, "threads"),
])
def test_open_memory_bad_arguments(bad, kw, what):
    with pytest.raises(amxq.AmxError) as e:
        amxq.open_memory(bad, **kw)
    assert e.value.name == "AMX_ERR_INVALID_ARG" and what in e.value.message, str(e.value)


# ---- alignment: copy, or refuse -------------------------------------------------------------------

def _misaligned(image):
    """The image in a numpy array that starts 16 bytes past a 64-byte boundary."""
    raw = amxq.aligned_buffer(len(image) + 64)
    buf = raw[16:16 + len(image)]
    buf[:] = np.frombuffer(image, np.uint8)
    return buf


def test_open_memory_copies_a_misaligned_image_or_refuses_it(q4k):
    w, _, x, y = q4k
    image = w.to_bytes()
    buf = _misaligned(image)
    with pytest.raises(amxq.AmxError) as e:
        amxq.open_memory(buf, copy=False)
    assert e.value.name == "AMX_ERR_BUFFER" and "64-byte aligned" in e.value.message, str(e.value)
    with amxq.open_memory(buf) as w2:  # the default: copied into aligned memory the weights own
        assert w2.buffer is not buf and w2.buffer.ctypes.data % 64 == 0 and w2.info["memory"] == "caller"
        buf[HEADER:] = 0  # the caller's buffer may change: the weights use their copy
        assert np.array_equal(w2.gemm(x), y)
    # copy=True copies an aligned buffer too
    aligned = _aligned_copy(image)
    with amxq.open_memory(aligned, copy=True) as w3:
        assert w3.buffer is not aligned
        aligned[HEADER:] = 0
        assert np.array_equal(w3.gemm(x), y)
    # an aligned buffer is used in place
    aligned = _aligned_copy(image)
    with amxq.open_memory(aligned) as w4:
        assert w4.buffer is aligned


# ---- lifetime: the object holding an image lives as long as the weights ------------------------

def _aligned_bytearray(image):
    """A bytearray holding the image whose data happens to start 64-byte
    aligned (CPython aligns to 16: one in four small ones do)."""
    tries = []
    for _ in range(256):
        b = bytearray(image)
        if np.frombuffer(b, np.uint8).ctypes.data % 64 == 0:
            return b
        tries.append(b)  # held, so that the allocator hands out other addresses
    pytest.skip("no 64-byte aligned bytearray in 256 tries")


def test_open_memory_keeps_a_bytearray_alive(q4k):
    w, _, x, y = q4k
    image = w.to_bytes()
    w2 = amxq.open_memory(_aligned_bytearray(image), copy=False)  # the only reference is the weights'
    gc.collect()
    for _ in range(50):
        bytearray(os.urandom(len(image)))  # memory freed by mistake would be reused here
    assert isinstance(w2.buffer, bytearray) and w2.info["memory"] == "caller"
    assert np.array_equal(w2.gemm(x), y)
    with pytest.raises(BufferError):
        w2.buffer.extend(b"0")  # held by the weights: cannot move while in use
    w2.close()
    assert w2.buffer is None


def test_open_memory_of_a_temporary_with_the_default_copy_choice(q4k):
    w, _, x, y = q4k
    w2 = amxq.open_memory(bytearray(w.to_bytes()))  # aligned or not, it works
    gc.collect()
    assert np.array_equal(w2.gemm(x), y)
    w2.close()


def test_weights_hold_the_buffer_until_closed(q4k):
    w, blocks, x, y = q4k
    image = w.to_bytes()
    cases = {"open_memory": lambda a: amxq.open_memory(a, copy=False),
             "pack_into": lambda a: amxq.pack_into(a, "Q4_K", 40, 512, blocks)}
    for how, make in cases.items():
        arr = _aligned_copy(image)
        ref = weakref.ref(arr.base)  # the allocation the aligned view lives in
        w2 = make(arr)
        del arr
        gc.collect()
        assert ref() is not None, how
        assert np.array_equal(w2.gemm(x), y), how
        w2.close()
        gc.collect()
        assert ref() is None, how  # let go once the handle is freed
        # and without close(): the weights going away frees the handle, then the buffer
        arr = _aligned_copy(image)
        ref = weakref.ref(arr.base)
        w3 = make(arr)
        del arr, w3
        gc.collect()
        assert ref() is None, how


def test_open_memory_of_an_mmap(tmp_path, q4k):
    w, _, x, y = q4k
    path = tmp_path / "w.amxq"
    w.save(path)
    with path.open("rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    w2 = amxq.open_memory(mm, copy=False)  # page-aligned: in place
    assert w2.buffer is mm and np.array_equal(w2.gemm(x), y)
    with pytest.raises(BufferError):
        mm.close()  # the weights' view of it is still exported
    w2.close()
    mm.close()


def test_repacked_image_keeps_no_buffer(tmp_path, q4k):
    """An image for a family this machine cannot run: refused, or with
    repack=True unpacked and packed again into library memory (checked in a
    process where AMXQ_MAX_ISA hides the faster families)."""
    _, blocks, x, _ = q4k
    if "avx512_vnni" not in _isas():
        pytest.skip("needs a machine that runs avx512_vnni to make an image the capped process cannot run")
    path = tmp_path / "w.amxq"
    amxq.Weights("Q4_K", 40, 512, blocks, isa="avx512_vnni").save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "blocks.npy", blocks)
    code = f"""
import amxq, numpy as np
x, blocks = np.load({str(tmp_path / 'x.npy')!r}), np.load({str(tmp_path / 'blocks.npy')!r})
want = amxq.Weights("Q4_K", 40, 512, blocks).gemm(x)
for load in (lambda **kw: amxq.open({str(path)!r}, **kw),
             lambda **kw: amxq.open_memory(open({str(path)!r}, "rb").read(), **kw)):
    try:
        load()
        raise SystemExit("opened an image this process cannot run")
    except amxq.AmxError as e:
        assert e.name == "AMX_ERR_ISA_UNAVAILABLE", e
    w = load(repack=True)
    assert w.info["isa"] == "scalar" and w.info["memory"] == "library" and w.buffer is None, w.info
    assert np.array_equal(w.gemm(x), want)
print("ok")
"""
    env = dict(os.environ, AMXQ_MAX_ISA="scalar")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
