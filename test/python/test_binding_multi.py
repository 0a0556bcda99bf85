"""amxq.gemm_multi and Weights.shares_activations (amx_gemm_q_multi and
amx_weights_share_activations through the binding).

gemm_multi promises each output bitwise equal to the handle's own gemm, so
the tests compare with w.gemm(x) exactly; the numerics of gemm itself are
test_binding.py's. The sharing table is amxq.h's, written out here a second
time so that a change to it in the library shows up as a failing test.
"""
import itertools

import numpy as np
import pytest

import amxq
import ggufgen

K = 512  # a multiple of every type's block (32 and 256)

# amxq.h: which non-scalar handles (AVX-512 VNNI and AMX) share a quantization
_SHARED_CLASS = {"Q8_0": "q8_0+128", "IQ4_NL": "q8_0+128", "Q5_0": "q8_0+128", "Q4_1": "q8_1", "Q5_1": "q8_1",
                 "Q4_K": "q8_K+sums", "Q5_K": "q8_K+sums", "Q2_K": "q8_K+sums",
                 "Q6_K": "q8_K+bias16", "Q3_K": "q8_K+bias16"}
# scalar handles: ggml's activation type of each weight type
_GGML_ACT = {"Q4_0": "Q8_0", "Q8_0": "Q8_0", "IQ4_NL": "Q8_0", "Q5_0": "Q8_0", "Q4_1": "Q8_1", "Q5_1": "Q8_1",
             "Q4_K": "Q8_K", "Q5_K": "Q8_K", "Q6_K": "Q8_K", "IQ4_XS": "Q8_K", "Q2_K": "Q8_K", "Q3_K": "Q8_K",
             "F16": "F16", "BF16": "BF16"}


def _act_class(t, isa):
    if isa == "scalar":
        return ("scalar", _GGML_ACT[t])
    return ("fast", _SHARED_CLASS.get(t, t))  # a type alone shares only with itself


def _isas():
    return amxq.cpu_info()["available"]


def _weights(rng, t, n, k=K, isa="auto", threads=1):
    try:
        return amxq.Weights(t, n, k, ggufgen.weight_blocks(rng, t, n, k), isa=isa, threads=threads)
    except amxq.AmxError as e:
        if e.name == "AMX_ERR_UNSUPPORTED_TYPE" and isa != "auto":
            pytest.skip(f"no {isa} kernel for {t} in this build")
        raise


def _x(rng, m, k=K):
    return rng.standard_normal((m, k)).astype(np.float32)


# QKV-like and gate/up-like sets: one k, n different, sharing and not
SETS = [("Q4_K", "Q4_K", "Q6_K"), ("Q8_0", "IQ4_NL"), ("Q4_K", "Q5_K", "IQ4_XS", "Q4_0", "Q4_1", "Q8_0"),
        ("Q5_0", "Q8_0", "IQ4_NL", "Q5_1", "Q4_1"), ("Q2_K", "Q3_K", "Q4_K", "Q6_K")]


@pytest.mark.parametrize("types", SETS, ids=["-".join(s) for s in SETS])
@pytest.mark.parametrize("isa", ["auto", "scalar", "avx512_vnni", "amx"])
@pytest.mark.parametrize("m", [1, 3, 40])
def test_gemm_multi_bitwise_equals_separate_gemm(rng, types, isa, m):
    if isa not in ("auto", *_isas()):
        pytest.skip(f"{isa} not available here")
    ns = [96, 32, 64, 48, 80, 16][:len(types)]
    ws = [_weights(rng, t, n, isa=isa) for t, n in zip(types, ns)]
    x = _x(rng, m)
    for threads in (1, 2):
        ys = amxq.gemm_multi(ws, x, threads=threads)
        assert len(ys) == len(ws)
        for w, y in zip(ws, ys):
            assert y.dtype == np.float32 and y.shape == (m, w.n)
            np.testing.assert_array_equal(y, w.gemm(x, threads=threads))
            assert y.tobytes() == w.gemm(x, threads=threads).tobytes()  # -0.0 and NaN bits too


def test_gemm_multi_vector_repeated_handles_and_outs(rng):
    wq, wk = _weights(rng, "Q4_K", 64), _weights(rng, "Q6_K", 32)
    x = _x(rng, 1)[0]
    yq, yk, yq2 = amxq.gemm_multi([wq, wk, wq], x)
    assert yq.shape == (64,) and yk.shape == (32,)
    assert yq.tobytes() == wq.gemm(x).tobytes() == yq2.tobytes()
    assert yk.tobytes() == wk.gemm(x).tobytes()

    # into column slices of one wide array (a fused QKV output), with x a strided row slice
    xs = _x(rng, 10)[::2]
    wide = np.full((5, 64 + 32 + 7), 7.0, dtype=np.float32)
    outs = [wide[:, :64], wide[:, 64:96]]
    got = amxq.gemm_multi([wq, wk], xs, outs=outs)
    assert got[0] is outs[0] and got[1] is outs[1]
    assert wide[:, :64].tobytes() == wq.gemm(xs).tobytes()
    assert wide[:, 64:96].tobytes() == wk.gemm(xs).tobytes()
    assert (wide[:, 96:] == 7.0).all()  # padding untouched

    # other dtypes converted as gemm converts them; m = 0 gives empty results
    x64 = _x(rng, 3).astype(np.float64)
    assert amxq.gemm_multi([wk], x64)[0].tobytes() == wk.gemm(x64).tobytes()
    empty = amxq.gemm_multi([wq, wk], np.zeros((0, K), dtype=np.float32))
    assert [e.shape for e in empty] == [(0, 64), (0, 32)]


def test_gemm_multi_mismatched_k_is_bad_shape(rng):
    a, b = _weights(rng, "Q4_K", 32, k=512), _weights(rng, "Q4_K", 32, k=256)
    out = np.full((2, 32), 3.0, dtype=np.float32)
    with pytest.raises(amxq.AmxError) as e:
        amxq.gemm_multi([a, b], _x(rng, 2, 512), outs=[np.empty((2, 32), np.float32), out])
    assert e.value.name == "AMX_ERR_BAD_SHAPE" and e.value.status == 3
    assert (out == 3.0).all()


@pytest.mark.parametrize("bad, what", [
    ([], "empty"),
    (None, "sequence"),
    ("w", "Weights"),
])
def test_gemm_multi_bad_weights_raise(rng, bad, what):
    with pytest.raises(amxq.AmxError, match=what) as e:
        amxq.gemm_multi(bad, _x(rng, 1))
    assert e.value.name == "AMX_ERR_INVALID_ARG"


def test_gemm_multi_bad_x_threads_outs_raise_and_write_nothing(rng):
    wq, wk = _weights(rng, "Q4_K", 64), _weights(rng, "Q4_K", 32)
    x = _x(rng, 2)
    with pytest.raises(amxq.AmxError, match="columns"):
        amxq.gemm_multi([wq, wk], _x(rng, 2, 256))
    with pytest.raises(amxq.AmxError, match="threads"):
        amxq.gemm_multi([wq, wk], x, threads=-1)
    good = np.full((2, 64), 5.0, dtype=np.float32)
    bads = [
        ([good], "2 handles"),                                            # one array short
        ([good, np.empty((2, 31), np.float32)], r"outs\[1\].*shape"),      # wrong shape
        ([good, np.empty((2, 32), np.float64)], r"outs\[1\].*float32"),    # wrong dtype
        ([good, good[:, :32]], r"outs\[1\] overlaps outs\[0\]"),           # overlapping outputs
        ([good, x[:, :32]], "overlaps x"),                                 # overlapping x
        (good, "sequence"),                                               # an array, not a list
    ]
    for outs, what in bads:
        with pytest.raises(amxq.AmxError, match=what) as e:
            amxq.gemm_multi([wq, wk], x, outs=outs)
        assert e.value.name == "AMX_ERR_INVALID_ARG"
        assert (good == 5.0).all(), what


def test_gemm_multi_closed_handle_raises_and_releases_the_others(rng):
    a, b = _weights(rng, "Q8_0", 32), _weights(rng, "IQ4_NL", 32)
    b.close()
    with pytest.raises(amxq.AmxError, match="freed"):
        amxq.gemm_multi([a, b], _x(rng, 1))
    a.close()  # would wait forever if gemm_multi had kept a borrowed
    assert a.closed


def test_shares_activations_follows_the_table(rng):
    """Every pair of (type, isa) handles of one k: amxq.h's table; other k: never."""
    isas = ["scalar", "avx512_vnni", "amx"]
    hs = {}
    for t in amxq.TYPES:
        assert t in _GGML_ACT, f"{t}: add it to this test's copy of amxq.h's sharing table"
        for isa in isas:
            if isa in _isas():
                try:
                    hs[t, isa] = amxq.Weights(t, 16, K, ggufgen.weight_blocks(rng, t, 16, K), isa=isa)
                except amxq.AmxError as e:
                    assert e.name == "AMX_ERR_UNSUPPORTED_TYPE", e
    assert hs
    checked = 0
    for (ta, ia), (tb, ib) in itertools.product(hs, repeat=2):
        want = _act_class(ta, ia) == _act_class(tb, ib)
        got = hs[ta, ia].shares_activations(hs[tb, ib])
        assert got is want, f"{ta} {ia} vs {tb} {ib}: {got}, amxq.h says {want}"
        checked += 1
    assert checked == len(hs) ** 2
    # the Q4_K / Q4_K / Q6_K QKV of the task: Q and K share, V alone
    q, k, v = (_weights(rng, t, n) for t, n in (("Q4_K", 64), ("Q4_K", 16), ("Q6_K", 16)))
    assert q.shares_activations(k) and not q.shares_activations(v) and not k.shares_activations(v)
    other_k = _weights(rng, "Q4_K", 16, k=256)
    assert not q.shares_activations(other_k)
    with pytest.raises(amxq.AmxError, match="Weights"):
        q.shares_activations("q")
    v.close()
    with pytest.raises(amxq.AmxError, match="freed"):
        q.shares_activations(v)
