"""The Python binding (python/amxq) against numpy.

.gemm is compared with a numpy computation that follows the library's
definition step by step: the weights decoded by gguf-py (Q4_0, Q4_1, Q8_0
quantized by gguf-py's own quantizer; the K-quants and IQ4_XS as random valid
blocks), the activations quantized in numpy float32 exactly as amxq's
reference quantizers do (Q8_0/Q8_1: 127/amax, ties to even, fp16 scale; Q8_K:
signed max, -127/max), and the product in float64. What may differ is only the
float32 accumulation order, so the allowed error is a few ulps of the sum of
|terms|: one misquantized activation would exceed it by orders of magnitude.
"""
import ctypes.util
import gc
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import amxq
import ggufgen
from gguf import GGMLQuantizationType as QT
from gguf import quants

# every type the library's own table lists (amx_type_count / amx_type_at)
TYPES = list(amxq.TYPES)


def test_type_table_comes_from_the_library():
    """amxq.TYPES is the library's table, named as ggml names the types, and
    the test generator can write blocks for every one of them."""
    assert len(TYPES) == amxq._type_count() and len(TYPES) >= 7
    for name, tid in amxq.TYPES.items():
        assert QT[name].value == tid, name
        assert amxq._lib.amx_type_from_name(name.lower().encode()) == tid
    missing = set(TYPES) - set(ggufgen.SUPPORTED)
    assert not missing, f"the library implements types the test generator cannot write: {missing}"


def _isas():
    """'auto' plus every ISA this machine runs."""
    return ["auto"] + amxq.cpu_info()["available"]


def _pack(t, n, k, blocks, isa, **kw):
    try:
        return amxq.Weights(t, n, k, blocks, isa=isa, **kw)
    except amxq.AmxError as e:
        if e.name == "AMX_ERR_UNSUPPORTED_TYPE" and isa != "auto":
            pytest.skip(f"no {isa} kernel for {t} in this build")
        raise


# ---- numpy model of the library's numerics ----------------------------------------------

def _quantize_q8(x):
    """Q8_0/Q8_1 per 32 values: (quants, d as fp16 -> float, s = fp16(d * sum q))."""
    b = x.reshape(x.shape[0], -1, 32).astype(np.float32)
    amax = np.abs(b).max(axis=2, keepdims=True)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(amax != 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    q = np.rint(b * inv)
    d16 = d.astype(np.float16).astype(np.float32)
    s16 = (d * q.sum(axis=2, keepdims=True, dtype=np.float32)).astype(np.float16).astype(np.float32)
    return q, d16, s16


def _quantize_q8_k(x):
    """Q8_K per 256 values: the element of largest |x| with its sign sets the scale."""
    b = x.reshape(x.shape[0], -1, 256).astype(np.float32)
    idx = np.abs(b).argmax(axis=2)[..., None]
    mx = np.take_along_axis(b, idx, axis=2)
    with np.errstate(divide="ignore"):
        iscale = np.where(mx != 0, np.float32(-127) / mx, np.float32(0)).astype(np.float32)
    q = np.minimum(np.rint(iscale * b), 127)
    with np.errstate(divide="ignore"):
        d = np.where(mx != 0, np.float32(1) / iscale, np.float32(0)).astype(np.float32)
    return q, d


def _expected(t, blocks, n, k, x):
    """(y in float64, sum of |terms|) for y = x . W^T as amxq defines it."""
    w = quants.dequantize(blocks.reshape(n, -1), QT[t]).reshape(n, k).astype(np.float64)
    if t in ("F16", "BF16"):
        # activations rounded to the weight's type by gguf-py (ggml's rules)
        a = quants.dequantize(np.asarray(quants.quantize(x.astype(np.float32), QT[t])), QT[t]).astype(np.float64)
        return a @ w.T, np.abs(a) @ np.abs(w).T
    if ggufgen.BLOCK[t][0] == 256:  # the K-quants and IQ4_XS: Q8_K activations
        q, d = _quantize_q8_k(x)
        a = (q * d).reshape(x.shape[0], k).astype(np.float64)
        return a @ w.T, np.abs(a) @ np.abs(w).T
    q, d16, s16 = _quantize_q8(x)
    a = (q * d16).reshape(x.shape[0], k).astype(np.float64)
    y, mag = a @ w.T, np.abs(a) @ np.abs(w).T
    if t in ("Q4_1", "Q5_1"):
        # Q4_1 / Q5_1 . Q8_1 use the weight block's min times s = fp16(d * sum q),
        # not min * sum(d16 * q): add the difference, block by block
        mins = blocks.reshape(n, -1, ggufgen.BLOCK[t][1])[:, :, 2:4].copy().view(np.float16).astype(np.float64)[..., 0]  # (n, nb)
        corr = (s16 - d16 * q.sum(axis=2, keepdims=True))[..., 0].astype(np.float64)  # (m, nb)
        y = y + corr @ mins.T
        mag = mag + np.abs(s16[..., 0]).astype(np.float64) @ np.abs(mins).T
    return y, mag


def _assert_close(y, want, mag, what, k=None):
    """k given (F16, BF16): the bound of any fp32 summation of k exact products
    and the final rounding, (k + 2) 2^-24 of the magnitudes."""
    assert y.dtype == np.float32
    err = np.abs(y.astype(np.float64) - want)
    bound = (4e-6 if k is None else (k + 2) * 2.0**-24) * mag + 1e-30
    bad = np.argwhere(err > bound)
    assert bad.size == 0, f"{what}: {len(bad)} outputs off, first {bad[:3].tolist()}: got {y[tuple(bad[0])]}, " \
                          f"want {want[tuple(bad[0])]}, bound {bound[tuple(bad[0])]}"


# ---- gemm against numpy ------------------------------------------------------------------

@pytest.mark.parametrize("t", TYPES)
@pytest.mark.parametrize("isa", _isas())
def test_gemm_matches_numpy(rng, t, isa):
    n, k = 70, 512  # n: not a multiple of any panel width
    blocks = ggufgen.weight_blocks(rng, t, n, k)
    x = (rng.standard_normal((9, k)) * rng.uniform(0.1, 10, (9, 1))).astype(np.float32)
    x[2] = 0.0                       # an all-zero row: d = 0
    x[4, 7] = -300.0                 # an outlier with a negative sign (Q8_K: negative d)
    with _pack(t, n, k, blocks, isa) as w:
        y = w.gemm(x)
        assert y.shape == (9, n)
        want, mag = _expected(t, blocks, n, k, x)
        _assert_close(y, want, mag, f"{t} {isa}", k if t in ("F16", "BF16") else None)
        assert np.all(y[2] == 0)
        # a row at a time and a 1-D vector give the same bits
        assert np.array_equal(w.gemm(x[5]), y[5])
        assert np.array_equal(w.gemm(x[3:4]), y[3:4])
        # and so does any thread count
        assert np.array_equal(w.gemm(x, threads=3), y)


def test_weights_from_gguf_py_quantizer_close_to_float_matmul(rng):
    """End to end: float weights -> gguf-py Q8_0 -> amxq -> close to x @ W.T."""
    n, k = 64, 1024
    wf = (rng.standard_normal((n, k)) * 0.05).astype(np.float32)
    x = rng.standard_normal((5, k)).astype(np.float32)
    with amxq.Weights("Q8_0", n, k, quants.quantize(wf, QT.Q8_0)) as w:
        y = w.gemm(x)
    ref = x.astype(np.float64) @ wf.T.astype(np.float64)
    assert np.linalg.norm(y - ref) / np.linalg.norm(ref) < 0.01


# ---- inputs and conversions -------------------------------------------------------------

@pytest.fixture
def q40(rng):
    n, k = 24, 64
    blocks = ggufgen.weight_blocks(rng, "Q4_0", n, k)
    w = amxq.Weights("Q4_0", n, k, blocks)
    yield w, blocks, rng.standard_normal((6, k)).astype(np.float32)
    w.close()


def test_data_as_bytes_array_or_number(q40):
    w, blocks, x = q40
    y = w.gemm(x)
    wide = np.zeros((48, 50), np.uint8)
    wide[::2, 7:43] = blocks
    for data, t in [(blocks.tobytes(), "Q4_0"), (bytearray(blocks.tobytes()), "q4_0"),
                    (memoryview(blocks.tobytes()), 2), (blocks.reshape(-1), np.int32(2)),
                    (memoryview(blocks), "Q4_0"),                      # a 2-D buffer
                    (wide[::2, 7:43], "Q4_0"),                         # rows at a stride: copied
                    (wide[::2, 7:43].reshape(-1), "Q4_0"),             # 1-D, copied in order
                    (blocks.T.T, "Q4_0")]:
        with amxq.Weights(t, 24, 64, data) as w2:
            assert np.array_equal(w2.gemm(x), y)


@pytest.mark.parametrize("t, n, k", [("Q4_0", 24, 64), ("Q4_0", 36, 64), ("Q4_K", 144, 256)])
def test_transposed_or_misshapen_blocks_refused(rng, t, n, k):
    """A (n, row_bytes) uint8 array holds the bytes of each row contiguously;
    its transpose lists the same bytes in another order, so it is refused,
    also when square (n == row_bytes: (36, 36) for Q4_0 at k = 64, (144, 144)
    for Q4_K at k = 256) where the shape alone cannot tell."""
    blocks = ggufgen.weight_blocks(rng, t, n, k)
    row_bytes = blocks.shape[1]
    for bad in (blocks.T, np.asfortranarray(blocks), memoryview(blocks.T), memoryview(np.asfortranarray(blocks))):
        with pytest.raises(amxq.AmxError) as e:
            amxq.Weights(t, n, k, bad)
        assert e.value.name == "AMX_ERR_INVALID_ARG" and "transposed" in e.value.message, str(e.value)
    if n != row_bytes:  # a row-major copy of the transpose: the shape tells
        with pytest.raises(amxq.AmxError) as e:
            amxq.Weights(t, n, k, np.ascontiguousarray(blocks.T))
        assert e.value.name == "AMX_ERR_INVALID_ARG" and f"({n}, {row_bytes})" in e.value.message, str(e.value)
    for bad, status in [(blocks.reshape(n * 2, -1), "AMX_ERR_INVALID_ARG"),
                        (blocks[:-1], "AMX_ERR_SIZE_MISMATCH"),
                        (blocks.reshape(1, n, -1), "AMX_ERR_INVALID_ARG")]:
        with pytest.raises(amxq.AmxError) as e:
            amxq.Weights(t, n, k, bad)
        assert e.value.name == status, str(e.value)
    # the right shape, and its bytes as one row, still pack
    x = rng.standard_normal((3, k)).astype(np.float32)
    with amxq.Weights(t, n, k, blocks) as a, amxq.Weights(t, n, k, blocks.reshape(-1)) as b:
        assert np.array_equal(a.gemm(x), b.gemm(x))
    # dequantize: any 2-D row-major array of whole blocks, no transposes
    assert np.array_equal(amxq.dequantize(t, blocks), amxq.dequantize(t, blocks.reshape(-1)))
    with pytest.raises(amxq.AmxError, match="transposed"):
        amxq.dequantize(t, blocks.T)


def test_activation_layouts_and_dtypes(q40):
    w, _, x = q40
    y = w.gemm(x)
    wide = np.zeros((6, 100), dtype=np.float32)
    wide[:, 10:74] = x
    assert np.array_equal(w.gemm(wide[:, 10:74]), y)          # strided rows, no copy needed
    assert np.array_equal(w.gemm(np.asfortranarray(x)), y)    # column-major: copied
    assert np.array_equal(w.gemm(x[::-1])[::-1], y)           # negative stride
    assert np.array_equal(w.gemm(x.astype(np.float64)), y)    # float64 -> float32 (exact here)
    assert np.array_equal(w.gemm(x.tolist()), y)              # nested lists
    assert w.gemm(np.ones((3, 64), dtype=np.int8)).dtype == np.float32
    assert w.gemm(np.zeros((0, 64), np.float32)).shape == (0, 24)


def test_gemm_into_out(q40):
    w, _, x = q40
    y = w.gemm(x)
    out = np.full((6, 24), np.nan, np.float32)
    assert w.gemm(x, out=out) is out and np.array_equal(out, y)
    # a column slice of a wider array: written in place at its row stride, the rest untouched
    wide = np.full((6, 40), 7.0, np.float32)
    view = wide[:, 5:29]
    assert w.gemm(x, out=view) is view
    assert np.array_equal(wide[:, 5:29], y) and np.all(wide[:, :5] == 7) and np.all(wide[:, 29:] == 7)
    # every other row of a taller array
    tall = np.full((12, 24), 7.0, np.float32)
    w.gemm(x, out=tall[::2])
    assert np.array_equal(tall[::2], y) and np.all(tall[1::2] == 7)
    # a vector: out of shape (n,); x and out side by side in one array
    vec = np.zeros(24, np.float32)
    assert w.gemm(x[3], out=vec) is vec and np.array_equal(vec, y[3])
    both = np.zeros((6, 64 + 24), np.float32)
    both[:, :64] = x
    w.gemm(both[:, :64], out=both[:, 64:])
    assert np.array_equal(both[:, 64:], y)
    # m = 0
    empty = np.zeros((0, 24), np.float32)
    assert w.gemm(np.zeros((0, 64), np.float32), out=empty) is empty


@pytest.mark.parametrize("bad, what", [
    (np.zeros((6, 24), np.float64), "float32"),
    ([[0.0] * 24] * 6, "float32"),
    (np.zeros((6, 25), np.float32), "shape"),
    (np.zeros((24,), np.float32), "shape"),
    (np.zeros((24, 6), np.float32).T, "contiguously"),         # column-major
    (np.zeros((6, 48), np.float32)[:, ::2], "contiguously"),   # strided columns
    (np.zeros((6, 24), np.float32)[::-1], "contiguously"),     # rows backwards
    (np.zeros((6, 25), np.float32).view(np.uint8)[:, 1:97].view(np.float32), "contiguously"),  # misaligned
])
def test_gemm_bad_out_raises_and_writes_nothing(q40, bad, what):
    w, _, x = q40
    if isinstance(bad, np.ndarray):
        bad[...] = 5
    with pytest.raises(amxq.AmxError) as e:
        w.gemm(x, out=bad)
    assert e.value.name == "AMX_ERR_INVALID_ARG" and what in e.value.message, str(e.value)
    if isinstance(bad, np.ndarray):
        assert np.all(bad == 5)


def test_gemm_out_read_only_or_overlapping_refused(q40):
    w, _, x = q40
    ro = np.zeros((6, 24), np.float32)
    ro.flags.writeable = False
    with pytest.raises(amxq.AmxError, match="read-only"):
        w.gemm(x, out=ro)
    # out on top of x (rows of 64 floats: the first 24 of each)
    xs = x.copy()
    with pytest.raises(amxq.AmxError, match="overlaps"):
        w.gemm(xs, out=xs[:, :24])
    assert np.array_equal(xs, x)
    # an x that is converted (float64) is a copy: out may then share the caller's memory
    buf = np.zeros((6, 64), np.float64)
    buf[:] = x
    out = buf.view(np.float32)[:, :24]
    assert np.array_equal(w.gemm(buf, out=out), w.gemm(x))


@pytest.mark.parametrize("bad, what", [
    (np.zeros((2, 63), np.float32), "columns"),
    (np.zeros((2, 3, 64), np.float32), "shape"),
    (np.zeros((), np.float32), "shape"),
    (np.zeros((2, 64), np.complex64), "dtype"),
    (np.array([["a"] * 64]), "dtype"),
    ("not numbers", "dtype"),
    ([[1.0] * 64, [1.0] * 10], "convert"),
    (None, "dtype"),
])
def test_bad_activations_raise(q40, bad, what):
    w, _, _ = q40
    with pytest.raises(amxq.AmxError) as e:
        w.gemm(bad)
    assert e.value.name == "AMX_ERR_INVALID_ARG" and what in e.value.message, str(e.value)


@pytest.mark.parametrize("args, status", [
    (("Q4_0", 24, 64, b"\0" * 10), "AMX_ERR_SIZE_MISMATCH"),
    (("Q4_0", 24, 48, b"\0" * 24 * 27), "AMX_ERR_BAD_SHAPE"),
    (("IQ2_XXS", 24, 256, b""), "AMX_ERR_UNSUPPORTED_TYPE"),
    ((16, 24, 64, b""), "AMX_ERR_UNSUPPORTED_TYPE"),
    ((2**40, 24, 64, b""), "AMX_ERR_UNSUPPORTED_TYPE"),
    ((2.0, 24, 64, b""), "AMX_ERR_INVALID_ARG"),
    (("Q4_0", 0, 64, b""), "AMX_ERR_INVALID_ARG"),
    (("Q4_0", -1, 64, b""), "AMX_ERR_INVALID_ARG"),
    (("Q4_0", "24", 64, b""), "AMX_ERR_INVALID_ARG"),
    (("Q4_0", 24, 64, np.zeros(24 * 36, np.float32)), "AMX_ERR_INVALID_ARG"),
    (("Q4_0", 24, 64, 12345), "AMX_ERR_INVALID_ARG"),
    (("Q4_0", 24, 64, b""), "AMX_ERR_INVALID_ARG"),
])
def test_bad_weights_raise(args, status):
    with pytest.raises(amxq.AmxError) as e:
        amxq.Weights(*args)
    assert e.value.name == status, str(e.value)
    assert str(e.value).startswith(status + ": ")


def test_isa_names_any_case_or_numbers(q40):
    _, blocks, x = q40
    want = amxq.Weights("Q4_0", 24, 64, blocks, isa="scalar").gemm(x)
    for isa in ("SCALAR", "Scalar", 1, np.int8(1), amxq.ISAS["scalar"]):
        with amxq.Weights("Q4_0", 24, 64, blocks, isa=isa) as w:
            assert w.info["isa"] == "scalar" and np.array_equal(w.gemm(x), want)
    for isa in ("AUTO", 0):
        with amxq.Weights("Q4_0", 24, 64, blocks, isa=isa) as w:
            assert w.info["isa"] == amxq.cpu_info()["best_isa"]
    for name in amxq.cpu_info()["available"]:
        with amxq.Weights("Q4_0", 24, 64, blocks, isa=name.upper()) as a, \
                amxq.Weights("Q4_0", 24, 64, blocks, isa=amxq.ISAS[name]) as b:
            assert a.info["isa"] == b.info["isa"] == name
    for bad in ("sse", "", 4, -1, 2**40, 1.0, None, b"scalar"):
        with pytest.raises(amxq.AmxError) as e:
            amxq.Weights("Q4_0", 24, 64, blocks, isa=bad)
        assert e.value.name == "AMX_ERR_INVALID_ARG" and "isa" in e.value.message, (bad, str(e.value))


def test_bad_options_raise():
    blocks = b"\0" * (2 * 18)
    with pytest.raises(amxq.AmxError, match="isa"):
        amxq.Weights("Q4_0", 1, 64, blocks, isa="sse")
    with pytest.raises(amxq.AmxError, match="threads"):
        amxq.Weights("Q4_0", 1, 64, blocks, threads=-1)
    w = amxq.Weights("Q4_0", 1, 64, blocks)
    with pytest.raises(amxq.AmxError, match="threads"):
        w.gemm(np.zeros(64), threads=5000)
    if "amx" not in amxq.cpu_info()["available"]:
        with pytest.raises(amxq.AmxError) as e:
            amxq.Weights("Q4_0", 1, 64, blocks, isa="amx")
        assert e.value.name == "AMX_ERR_ISA_UNAVAILABLE"


# ---- lifetime ------------------------------------------------------------------------------

def test_info_and_context_manager(q40):
    w, blocks, _ = q40
    info = w.info
    assert {k: info[k] for k in ("type", "n", "k")} == {"type": "Q4_0", "n": 24, "k": 64}
    assert info["isa"] in amxq.cpu_info()["available"]
    assert info["kernel"] == w.kernel(1) and info["packed_bytes"] >= blocks.size == info["gguf_bytes"]
    with amxq.Weights("Q4_0", 24, 64, blocks) as w2:
        assert not w2.closed
    assert w2.closed
    for use in (lambda: w2.gemm(np.zeros(64)), lambda: w2.info, lambda: w2.kernel(4)):
        with pytest.raises(amxq.AmxError, match="freed"):
            use()
    w2.close()  # a second close is harmless
    assert "freed" in repr(w2)


def test_freed_exactly_once(monkeypatch, rng):
    gc.collect()  # handles other tests left to the garbage collector go first
    freed = []
    real = amxq._free
    monkeypatch.setattr(amxq, "_free", lambda h: (freed.append(h), real(h)))
    blocks = ggufgen.weight_blocks(rng, "Q8_0", 4, 32)
    w = amxq.Weights("Q8_0", 4, 32, blocks)
    h = w._handle
    w.close()
    w.close()
    del w
    gc.collect()
    with amxq.Weights("Q8_0", 4, 32, blocks) as w2:
        h2 = w2._handle
    del w2
    gc.collect()
    w3 = amxq.Weights("Q8_0", 4, 32, blocks)
    h3 = w3._handle
    del w3  # garbage collection frees it
    gc.collect()
    assert freed == [h, h2, h3]


def test_concurrent_gemm_and_close(rng):
    """Threads multiply while another closes: every call either completes with
    the right answer or raises AmxError; none crashes."""
    n, k = 200, 1024
    blocks = ggufgen.weight_blocks(rng, "Q4_K", n, k)
    x = rng.standard_normal((16, k)).astype(np.float32)
    w = amxq.Weights("Q4_K", n, k, blocks)
    want = w.gemm(x)
    outcomes = []

    def worker():
        for _ in range(20):
            try:
                outcomes.append(np.array_equal(w.gemm(x, threads=2), want))
            except amxq.AmxError as e:
                outcomes.append(e.name)
    ts = [threading.Thread(target=worker) for _ in range(3)]
    for t in ts:
        t.start()
    w.close()
    for t in ts:
        t.join()
    assert set(outcomes) <= {True, "AMX_ERR_INVALID_ARG"}, set(outcomes)


# ---- cpu_info and dequantize ---------------------------------------------------------------

def test_cpu_info():
    info = amxq.cpu_info()
    assert "scalar" in info["available"] and info["best_isa"] in info["available"]
    assert set(info["why"]) == {"scalar", "avx512_vnni", "amx"}
    for isa in ("avx512_vnni", "amx"):
        assert (isa in info["available"]) == (info["why"][isa].startswith("available"))
    if "amx" in info["available"]:
        assert info["amx_off_reason"] is None
    else:
        assert info["amx_off_reason"] and info["amx_off_reason"] == info["why"]["amx"]
    nodes = [d for d in os.listdir("/sys/devices/system/node") if d[4:].isdigit()] \
        if os.path.isdir("/sys/devices/system/node") else []
    assert info["numa_nodes"] == max(1, len(nodes))
    assert info["version"].startswith("0.") and "best:" in info["report"]


def test_dequantize_matches_gguf_py(rng):
    for t in TYPES:
        blocks = ggufgen.weight_blocks(rng, t, 3, 256)
        ours = amxq.dequantize(t, blocks)
        theirs = quants.dequantize(blocks, QT[t]).reshape(-1).astype(np.float32)
        assert np.array_equal(ours, theirs), t
    with pytest.raises(amxq.AmxError, match="whole number"):
        amxq.dequantize("Q4_0", b"\0" * 17)


def test_library_found_through_environment():
    assert os.path.realpath(amxq.library_path) == os.path.realpath(os.environ["AMXQ_LIBRARY"])


def test_library_found_in_build_directory_without_environment():
    lib = os.path.realpath(os.environ["AMXQ_LIBRARY"])
    root = os.path.realpath(os.path.join(os.path.dirname(amxq.__file__), "..", ".."))
    if os.path.dirname(os.path.dirname(lib)) != root or not os.path.basename(os.path.dirname(lib)).startswith("build"):
        pytest.skip("this build directory is not build*/ inside the source tree")
    env = {k: v for k, v in os.environ.items() if k != "AMXQ_LIBRARY"}
    code = "import amxq, os; print(os.path.dirname(os.path.realpath(amxq.library_path)))"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    # the newest build*/libamxq.so of the tree: this one, or one built after it
    assert os.path.dirname(r.stdout.strip()) == root and os.path.basename(r.stdout.strip()).startswith("build")


# ---- finding the library: any failure is an ImportError naming every place looked ----------

def _tree_with_binding(tmp_path):
    """A source tree of its own holding a copy of the binding: ROOT/python/amxq/,
    ROOT/build*/ left to the test."""
    pkg = tmp_path / "python" / "amxq"
    pkg.mkdir(parents=True)
    shutil.copy(amxq.__file__, pkg / "__init__.py")
    return tmp_path


def _import_amxq(root, **env_vars):
    """Imports the binding of `root` in a fresh interpreter, AMXQ_LIBRARY and
    LD_LIBRARY_PATH unset unless given."""
    env = {k: v for k, v in os.environ.items() if k not in ("AMXQ_LIBRARY", "LD_LIBRARY_PATH")}
    env.update(env_vars, PYTHONPATH=str(root / "python"))
    code = "import amxq; print(amxq.library_path)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=root)


def _system_has_amxq():
    r = subprocess.run([sys.executable, "-c", "import ctypes; ctypes.CDLL('libamxq.so.0')"],
                       env={k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}, capture_output=True)
    return r.returncode == 0


def test_import_skips_dangling_build_links(tmp_path):
    root = _tree_with_binding(tmp_path)
    (root / "build-a").mkdir()
    os.symlink(root / "build-a" / "libamxq.so.0.9.9", root / "build-a" / "libamxq.so")  # never built
    (root / "build-b").mkdir()
    os.symlink(os.path.realpath(os.environ["AMXQ_LIBRARY"]), root / "build-b" / "libamxq.so")
    r = _import_amxq(root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(root / "build-b" / "libamxq.so")


def test_import_error_names_every_place_looked(tmp_path):
    if _system_has_amxq():
        pytest.skip("libamxq.so.0 is installed on the system library path: the import would find it")
    root = _tree_with_binding(tmp_path)
    pattern = os.path.join(str(root), "build*", "libamxq.so")
    # no build directory at all
    r = _import_amxq(root)
    assert r.returncode != 0 and "ImportError" in r.stderr, r.stderr
    assert pattern in r.stderr and "libamxq.so.0" in r.stderr, r.stderr
    # a dangling link, and a file that is no library
    (root / "build-a").mkdir()
    os.symlink(root / "build-a" / "nowhere.so", root / "build-a" / "libamxq.so")
    (root / "build-c").mkdir()
    (root / "build-c" / "libamxq.so").write_text("not a shared library\n")
    r = _import_amxq(root)
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: amxq: cannot load libamxq.so"), r.stderr
    for place in (root / "build-a" / "libamxq.so", root / "build-c" / "libamxq.so", "libamxq.so.0"):
        assert str(place) in last, (place, last)
    assert "FileNotFoundError" not in r.stderr


def test_import_error_for_a_wrong_amxq_library(tmp_path):
    root = _tree_with_binding(tmp_path)
    os.mkdir(root / "build-x")
    os.symlink(os.path.realpath(os.environ["AMXQ_LIBRARY"]), root / "build-x" / "libamxq.so")
    # AMXQ_LIBRARY is the only place tried when set, even with a good build directory
    missing = str(tmp_path / "no" / "libamxq.so")
    r = _import_amxq(root, AMXQ_LIBRARY=missing)
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError:") and missing in last and "AMXQ_LIBRARY" in last, r.stderr
    # a shared library that is not amxq (or an older one): names what it lacks
    libm = ctypes.util.find_library("m")
    if libm:
        r = _import_amxq(root, AMXQ_LIBRARY=libm)
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("ImportError:") and libm in last and "has no amx_" in last, r.stderr
