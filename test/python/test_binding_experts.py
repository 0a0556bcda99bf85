"""amxq.pack_experts, Weights.gemm_experts and the epilogue options (bias,
accumulate) through the binding.

gemm_experts promises every output row bitwise equal to gemm on that expert
alone over the rows routed to it, so the tests build that reference from
matrix handles of each expert's blocks and compare exactly; the epilogue
promises the separate passes (y + bias, then y_old + that), also compared
exactly. The output layout is ggml's mul_mat_id (token, slot, n), checked
against a float64 product of the decoded weights within quantization error.
"""
import numpy as np
import pytest

import amxq
import ggufgen

K = 512


def _isas():
    return ["auto", *amxq.cpu_info()["available"]]


def _blocks(rng, t, ne, n, k=K):
    return np.stack([ggufgen.weight_blocks(rng, t, n, k) for _ in range(ne)])  # (ne, n, row bytes)


def _reference(t, blocks, x, ids, isa, bias=None, old=None):
    ne, n = blocks.shape[0], blocks.shape[1]
    m, top = ids.shape
    y = np.zeros((m, top, n), np.float32) if old is None else old.copy()
    for e in range(ne):
        rows = [(i, s) for i in range(m) for s in range(top) if ids[i, s] == e]
        if not rows:
            continue
        with amxq.Weights(t, n, x.shape[1], blocks[e], isa=isa) as w:
            r = w.gemm(np.stack([x[i] for i, _ in rows]))
        if bias is not None:
            r = r + bias[e]
        for (i, s), v in zip(rows, r):
            y[i, s] = v if old is None else y[i, s] + v
    return y


@pytest.mark.parametrize("isa", ["auto", "scalar", "avx512_vnni", "amx"])
@pytest.mark.parametrize("t", ["Q4_0", "Q8_0", "Q4_K", "Q6_K", "IQ4_XS"])
@pytest.mark.parametrize("m,top", [(1, 2), (3, 8), (17, 1), (64, 2)])
def test_gemm_experts_bitwise_per_expert(rng, isa, t, m, top):
    if isa not in _isas():
        pytest.skip(f"{isa} not available here")
    ne, n = 9, 40
    blocks = _blocks(rng, t, ne, n)
    x = rng.standard_normal((m, K)).astype(np.float32)
    ids = np.stack([rng.permutation(ne)[:top] for _ in range(m)]).astype(np.int32)
    with amxq.pack_experts(t, ne, n, K, blocks, isa=isa, threads=2) as e:
        assert e.n_expert == ne and e.info["n_expert"] == ne
        y = e.gemm_experts(x, ids)
        assert y.shape == (m, top, n) and y.dtype == np.float32
        assert np.array_equal(y.view(np.uint32), _reference(t, blocks, x, ids, isa).view(np.uint32))
        # the epilogue: a bias per expert and accumulate
        bias = rng.standard_normal((ne, n)).astype(np.float32)
        old = rng.standard_normal((m, top, n)).astype(np.float32)
        out = old.copy()
        e.gemm_experts(x, ids, out=out, bias=bias, accumulate=True, threads=3)
        assert np.array_equal(out.view(np.uint32), _reference(t, blocks, x, ids, isa, bias, old).view(np.uint32))


def test_gemm_experts_layout_is_mul_mat_id(rng):
    """y[i, s] = x[i] @ W[ids[i, s]].T, from the decoded weights in float64."""
    t, ne, n, m, top = "Q8_0", 4, 24, 6, 3
    blocks = _blocks(rng, t, ne, n)
    x = rng.standard_normal((m, K)).astype(np.float32)
    ids = np.array([[0, 1, 2], [3, 3, 0], [1, 0, 2], [2, 2, 2], [0, 3, 1], [1, 2, 3]], np.int32)  # repeats allowed
    wf = amxq.dequantize(t, blocks.reshape(-1)).reshape(ne, n, K).astype(np.float64)
    with amxq.pack_experts(t, ne, n, K, blocks.reshape(-1)) as e:
        y = e.gemm_experts(x, ids)
    want = np.einsum("ik,isnk->isn", x.astype(np.float64), wf[ids])
    scale = np.abs(x).max() * np.abs(wf).max() * K
    assert np.abs(y - want).max() < 2e-3 * scale / np.sqrt(K)
    assert np.array_equal(y[1, 0], y[1, 1])  # the same expert twice in a row: the same result


def test_gemm_experts_refusals(rng):
    t, ne, n, m = "Q4_K", 3, 32, 4
    blocks = _blocks(rng, t, ne, n)
    x = rng.standard_normal((m, K)).astype(np.float32)
    with amxq.pack_experts(t, ne, n, K, blocks) as e, amxq.Weights(t, n, K, blocks[0]) as w:
        out = np.full((m, 2, n), 7.0, np.float32)
        for bad in (-1, ne):
            ids = np.zeros((m, 2), np.int32)
            ids[2, 1] = bad
            with pytest.raises(amxq.AmxError) as ex:
                e.gemm_experts(x, ids, out=out)
            assert ex.value.name == "AMX_ERR_INVALID_ARG"
        assert (out == 7.0).all()
        with pytest.raises(amxq.AmxError):
            e.gemm_experts(x, np.zeros((m + 1, 2), np.int32))
        with pytest.raises(amxq.AmxError):
            e.gemm(x)
        with pytest.raises(amxq.AmxError):
            w.gemm_experts(x, np.zeros((m, 2), np.int32))
        with pytest.raises(amxq.AmxError):
            e.gemm_experts(x, np.zeros((m, 2), np.int32), accumulate=True)  # nothing to add to
        with pytest.raises(amxq.AmxError):
            e.gemm_experts(x, np.zeros((m, 2), np.int32), bias=np.zeros(n, np.float32))  # one row per expert
        with pytest.raises(amxq.AmxError):
            amxq.pack_experts(t, ne, n, K, blocks[:2])


def test_expert_images(rng, tmp_path):
    t, ne, n = "Q5_K", 5, 24
    blocks = _blocks(rng, t, ne, n)
    x = rng.standard_normal((7, K)).astype(np.float32)
    ids = rng.integers(0, ne, (7, 2)).astype(np.int32)
    with amxq.pack_experts(t, ne, n, K, blocks) as e:
        want = e.gemm_experts(x, ids)
        size, align = amxq.pack_size(t, n, K, n_expert=ne)
        assert size == e.info["packed_bytes"]
        image = e.to_bytes()
        assert int.from_bytes(image[8:12], "little") == 2 and int.from_bytes(image[104:112], "little") == ne
        e.save(tmp_path / "e.amxq")
    buf = amxq.aligned_buffer(size)
    with amxq.pack_into(buf, t, n, K, blocks, n_expert=ne) as p:
        assert p.info["memory"] == "caller" and p.n_expert == ne
        assert bytes(buf) == image
    for w in (amxq.open(tmp_path / "e.amxq"), amxq.open_memory(image)):
        with w:
            assert w.n_expert == ne
            assert np.array_equal(w.gemm_experts(x, ids), want)


@pytest.mark.parametrize("isa", ["auto", "scalar"])
def test_gemm_epilogue_bitwise(rng, isa):
    for t in ("Q4_0", "Q4_K", "IQ4_NL"):
        n, m = 33, 5
        with amxq.Weights(t, n, K, ggufgen.weight_blocks(rng, t, n, K), isa=isa) as w:
            x = rng.standard_normal((m, K)).astype(np.float32)
            r = w.gemm(x)
            bias = rng.standard_normal(n).astype(np.float32)
            assert np.array_equal(w.gemm(x, bias=bias), r + bias)
            old = rng.standard_normal((m, n)).astype(np.float32)
            out = old.copy()
            w.gemm(x, out=out, bias=bias, accumulate=True, threads=2)
            assert np.array_equal(out.view(np.uint32), (old + (r + bias)).view(np.uint32))
            bias[4] = np.nan
            y = w.gemm(x, bias=bias)
            assert np.isnan(y[:, 4]).all() and not np.isnan(np.delete(y, 4, axis=1)).any()
            with pytest.raises(amxq.AmxError):
                w.gemm(x, bias=np.zeros(n + 1, np.float32))


def test_gemm_multi_epilogue(rng):
    ns = [16, 40, 24]
    ws = [amxq.Weights(t, n, K, ggufgen.weight_blocks(rng, t, n, K)) for t, n in zip(("Q8_0", "Q4_K", "Q6_K"), ns)]
    x = rng.standard_normal((9, K)).astype(np.float32)
    bias = rng.standard_normal(sum(ns)).astype(np.float32)
    olds = [rng.standard_normal((9, n)).astype(np.float32) for n in ns]
    outs = [o.copy() for o in olds]
    amxq.gemm_multi(ws, x, outs=outs, bias=bias, accumulate=True)
    at = 0
    for w, o, old, n in zip(ws, outs, olds, ns):
        assert np.array_equal(o, old + (w.gemm(x) + bias[at:at + n]))
        at += n
    for w in ws:
        w.close()
