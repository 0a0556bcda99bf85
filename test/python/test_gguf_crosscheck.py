"""amxq's block decoders and activation quantizer against gguf-py, ggml's own
Python implementation of the formats (a second implementation no one here
wrote).

- Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: weights quantized by gguf-py's quantizer,
  decoded by both, compared value for value (bitwise float32).
- Every type of the test generator (ggufgen.GENERATORS), the K-quants and IQ4
  types among them (gguf-py has no quantizer for those): random valid blocks
  with finite scales (random fifth bits for Q5_0 / Q5_1), decoded by both,
  compared value for value.
- F16, BF16: values of every class (normal, subnormal, zero, Inf, NaN, random
  bit patterns) decoded by both, bitwise; activations rounded to fp16 / bf16
  by amxq's reference against gguf-py's conversions (numpy's float16 cast,
  ggml's bf16 rounding), bitwise except NaN payloads for fp16 (F16C sets the
  quiet bit, numpy keeps the payload as it is; both stay NaN).
- Q8_0 activation quantizer: amxq follows ggml's x86 SIMD quantizer (scale
  127/amax, ties to even); gguf-py follows ggml's portable reference (scale
  1/d, ties away from zero). The fp16 scales must match exactly and the
  quants byte for byte, except where x*scale lies within a rounding error of
  a .5 tie, the one place the two definitions are allowed to differ.
"""
import numpy as np
import pytest

import gguf  # noqa: F401  (installed by scripts/install-deps; a missing module must fail)
from gguf import GGMLQuantizationType as QT  # noqa: E402
from gguf import quants  # noqa: E402

from ggufgen import GENERATORS, random_blocks  # noqa: E402



def _decode_both(xcheck_tool, name, blocks: np.ndarray):
    ours = np.frombuffer(xcheck_tool("dequantize", name, data=blocks.tobytes()), dtype=np.float32)
    theirs = quants.dequantize(blocks.reshape(1, -1), QT[name]).reshape(-1).astype(np.float32)
    return ours, theirs


def _assert_bitwise(ours, theirs, what):
    assert ours.shape == theirs.shape, what
    same = (ours.view(np.uint32) == theirs.view(np.uint32)) | (ours == theirs)  # +0 == -0
    bad = np.flatnonzero(~same)
    assert bad.size == 0, f"{what}: {bad.size} values differ, first at {bad[:5]}: ours {ours[bad[:5]]} gguf-py {theirs[bad[:5]]}"


@pytest.mark.parametrize("name", ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"])
def test_legacy_quantized_by_gguf_py(xcheck_tool, rng, name):
    rows = rng.standard_normal((64, 4096)).astype(np.float32) * rng.uniform(0.01, 3.0, (64, 1)).astype(np.float32)
    rows[3, :] = 0.0                     # all-zero blocks
    rows[5, 100] = 1000.0                # outlier
    blocks = quants.quantize(rows, QT[name])
    ours, theirs = _decode_both(xcheck_tool, name, blocks)
    _assert_bitwise(ours, theirs, f"{name} decode")
    assert ours.size == rows.size


@pytest.mark.parametrize("name", list(GENERATORS))
def test_random_blocks(xcheck_tool, rng, name):
    blocks = random_blocks(rng, name, 2048)
    ours, theirs = _decode_both(xcheck_tool, name, blocks)
    _assert_bitwise(ours, theirs, f"{name} decode")


def _edge_floats(rng, count):
    """float32 values of every class: model-like, large, tiny (float and
    half subnormals), ties of both roundings, +-0, +-Inf, NaNs, random bits."""
    parts = [rng.standard_normal(count) * 0.02, rng.standard_normal(count) * 1e4,
             rng.uniform(-1e-38, 1e-38, count), rng.uniform(-1e-7, 1e-7, count),
             np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0, 65520.0, -65519.0, 3.4e38, 1e-45])]
    x = np.concatenate(parts).astype(np.float32)
    bits = rng.integers(0, 2**32, size=count, dtype=np.uint64).astype(np.uint32).view(np.float32)
    # exact ties: fp16 (13 dropped bits) and bf16 (16 dropped bits) halfway cases
    ties16 = (np.arange(1, 64, dtype=np.uint32) << 13 | 0x1000 | 0x3f800000).view(np.float32)
    tiesb = (np.arange(1, 64, dtype=np.uint32) << 16 | 0x8000 | 0x3f800000).view(np.float32)
    return np.concatenate([x, bits, ties16, tiesb]).astype(np.float32)


@pytest.mark.parametrize("name", ["F16", "BF16"])
def test_float_weights_decode(xcheck_tool, rng, name):
    vals = rng.integers(0, 2**16, size=4096, dtype=np.uint64).astype(np.uint16)  # every class, NaNs included
    blocks = np.concatenate([vals, random_blocks(rng, name, 1024).view(np.uint16).reshape(-1)])
    ours, theirs = _decode_both(xcheck_tool, name, blocks.view(np.uint8))
    _assert_bitwise(ours, theirs, f"{name} decode")


@pytest.mark.parametrize("name", ["F16", "BF16"])
def test_float_activation_rounding(xcheck_tool, rng, name):
    x = _edge_floats(rng, 4096)
    ours = np.frombuffer(xcheck_tool("quantize", name.lower(), data=x.tobytes()), dtype=np.uint16)
    theirs = np.asarray(quants.quantize(x, QT[name])).view(np.uint16).reshape(-1)
    assert ours.shape == theirs.shape
    if name == "F16":
        nan = np.isnan(x)
        assert np.all(np.isnan(ours[nan].view(np.float16))), "F16: NaN must stay NaN"
        ours, theirs = ours[~nan], theirs[~nan]
    bad = np.flatnonzero(ours != theirs)
    assert bad.size == 0, f"{name}: {bad.size} values differ, first {x[~np.isnan(x)][bad[:5]] if name == 'F16' else x[bad[:5]]}"


def _q8_0_from_amxq(xcheck_tool, x):
    out = np.frombuffer(xcheck_tool("quantize", "q8_0", data=x.astype(np.float32).tobytes()), dtype=np.uint8)
    return out.reshape(-1, 34)


def test_q8_0_activation_quantizer_bytes(xcheck_tool, rng):
    x = (rng.standard_normal((256, 4096)) * rng.uniform(1e-3, 50.0, (256, 1))).astype(np.float32)
    x[7, :64] = 0.0
    ours = _q8_0_from_amxq(xcheck_tool, x.reshape(-1))
    theirs = quants.quantize(x, QT.Q8_0).reshape(-1, 34)
    assert ours.shape == theirs.shape
    # scales: fp16(amax / 127) in both
    assert np.array_equal(ours[:, :2], theirs[:, :2]), "fp16 block scales differ"
    q_ours = ours[:, 2:].view(np.int8).astype(np.int32)
    q_theirs = theirs[:, 2:].view(np.int8).astype(np.int32)
    diff = np.argwhere(q_ours != q_theirs)
    blocks = x.reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1)
    for b, j in diff:
        v = np.float32(blocks[b, j]) * np.float32(127.0) / np.float32(amax[b])
        frac = abs(abs(float(v)) - np.floor(abs(float(v))) - 0.5)
        assert frac < 5e-5, f"block {b} elem {j}: amxq {q_ours[b, j]} gguf-py {q_theirs[b, j]} not at a tie (x*id={v})"
        assert abs(q_ours[b, j] - q_theirs[b, j]) == 1
    # with random data the two agree almost everywhere
    assert diff.shape[0] <= q_ours.size * 1e-4, f"{diff.shape[0]} of {q_ours.size} quants differ"


def test_q8_0_ties_documented_difference(xcheck_tool):
    # amax = 127 so x * id == x: exact .5 ties
    x = np.zeros(32, dtype=np.float32)
    x[0] = 127.0
    x[1:5] = [62.5, 63.5, -62.5, 0.5]
    ours = _q8_0_from_amxq(xcheck_tool, x)[0, 2:].view(np.int8)
    theirs = quants.quantize(x.reshape(1, 32), QT.Q8_0).reshape(-1)[2:].view(np.int8)
    assert list(ours[1:5]) == [62, 64, -62, 0], "amxq rounds ties to even (ggml's x86 quantizer)"
    assert list(theirs[1:5]) == [63, 64, -63, 1], "gguf-py rounds ties away from zero (ggml's reference)"
