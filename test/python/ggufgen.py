"""Test data made with gguf-py (ggml's own Python package, written elsewhere):
GGUF blocks of every type amxq supports, a small llama-shaped model file
written by GGUFWriter, and corrupted copies of it.

Run as a script it writes the model and its corrupted copies to a folder
(the seed corpus of scripts/fuzz-gguf):  python ggufgen.py OUTDIR
"""
import os
import struct
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT
from gguf import quants

def _fp16_fields(*offsets):
    """Random valid blocks whose fp16 scales sit at these byte offsets: random
    quants and sub-scales, finite scales (random bytes would also give Inf/NaN)."""
    def make(rng, raw):
        for off in offsets:
            vals = rng.uniform(-0.05, 0.05, raw.shape[0])
            raw[:, off:off + 2] = np.asarray(vals, dtype=np.float16).view(np.uint8).reshape(-1, 2)
        return raw
    return make


def _float_values(name):
    """F16 / BF16: every 2-byte "block" one model-like value, converted by
    gguf-py (numpy's float16 cast for F16, ggml's rounding for BF16)."""
    def make(rng, raw):
        w = (rng.standard_normal(raw.shape[0]) * 0.02).astype(np.float32)
        return np.asarray(quants.quantize(w, QT[name])).view(np.uint8).reshape(-1, 2)
    return make


# One entry per type the tests can make GGUF blocks of: (elements per block,
# bytes per block, how random valid blocks get their scales). A type amxq
# supports must have one: test_gguf_tool's whole-model check and
# test_binding fail otherwise.
GENERATORS = {
    "Q4_0": (32, 18, _fp16_fields(0)),
    "Q4_1": (32, 20, _fp16_fields(0, 2)),
    "Q5_0": (32, 22, _fp16_fields(0)),
    "Q5_1": (32, 24, _fp16_fields(0, 2)),
    "Q8_0": (32, 34, _fp16_fields(0)),
    "IQ4_NL": (32, 18, _fp16_fields(0)),
    "Q4_K": (256, 144, _fp16_fields(0, 2)),
    "Q5_K": (256, 176, _fp16_fields(0, 2)),
    "Q6_K": (256, 210, _fp16_fields(208)),
    "IQ4_XS": (256, 136, _fp16_fields(0)),
    "F16": (1, 2, _float_values("F16")),
    "BF16": (1, 2, _float_values("BF16")),
    "Q2_K": (256, 84, _fp16_fields(80, 82)),
    "Q3_K": (256, 110, _fp16_fields(108)),
}
BLOCK = {name: (bs, bb) for name, (bs, bb, _) in GENERATORS.items()}
SUPPORTED = tuple(GENERATORS)
# the types gguf-py can quantize (weight_blocks quantizes floats for them)
GGUF_PY_QUANTIZES = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "F16", "BF16")


def random_blocks(rng, name, nblocks):
    """Random but valid blocks of a type in GENERATORS, shape (nblocks, bytes)."""
    bs, bb, scales = GENERATORS[name]
    return scales(rng, rng.integers(0, 256, size=(nblocks, bb), dtype=np.uint8))


def weight_blocks(rng, name, n, k):
    """(n, k) weights as GGUF blocks, shape (n, k / block * bytes): quantized
    from floats by gguf-py where it can, else random valid blocks."""
    if name in GGUF_PY_QUANTIZES:
        w = (rng.standard_normal((n, k)) * 0.02).astype(np.float32)
        return np.asarray(quants.quantize(w, QT[name])).view(np.uint8).reshape(n, -1)
    bs, bb = BLOCK[name]
    return random_blocks(rng, name, n * k // bs).reshape(n, k // bs * bb)


# A llama-shaped model, tiny: n_embd 256, n_ff 512, vocab 260 (not a multiple
# of any panel width), 4 heads with 2 KV heads, as many layers as its weight
# types need (two at least). The embedding is Q4_K and the output Q6_K; the
# seven matrices of each layer take the weight types in turn, then the
# unsupported examples (IQ3_XXS and IQ2_XXS by default: skipped by amxq-gguf), and
# the last layer's free roles repeat the types from the start. F32 norms and
# a 1-D rope_freqs are the tensors that are not matrices.
N_EMBD, N_FF, N_VOCAB, N_KV = 256, 512, 260, 128
ROLES = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
SHAPES = {"attn_q": (N_EMBD, N_EMBD), "attn_k": (N_KV, N_EMBD), "attn_v": (N_KV, N_EMBD),
          "attn_output": (N_EMBD, N_EMBD), "ffn_gate": (N_FF, N_EMBD), "ffn_up": (N_FF, N_EMBD),
          "ffn_down": (N_EMBD, N_FF)}
UNSUPPORTED_EXAMPLES = ("IQ3_XXS", "IQ2_XXS")


def model_layers(types=SUPPORTED, unsupported=UNSUPPORTED_EXAMPLES):
    """[{role: type}] per layer: every type of `types`, then of `unsupported`
    that is not in `types`, at least once."""
    slots = list(types) + [t for t in unsupported if t not in types]
    missing = [t for t in types if t not in GENERATORS and t != "F32"]
    if missing:
        raise KeyError(f"ggufgen has no block generator for {missing}: add an entry to GENERATORS")
    n_layers = max(2, -(-len(slots) // len(ROLES)))
    slots += [types[i % len(types)] for i in range(n_layers * len(ROLES) - len(slots))]
    return [dict(zip(ROLES, slots[i * len(ROLES):(i + 1) * len(ROLES)])) for i in range(n_layers)]


def model_tensors(rng, types=SUPPORTED, unsupported=UNSUPPORTED_EXAMPLES):
    """[(name, ggml type name, (n, k) or (len,), numpy data)] in file order."""
    layers = model_layers(types, unsupported)
    out = [("token_embd.weight", "Q4_K", (N_VOCAB, N_EMBD))]
    for i, layer in enumerate(layers):
        out.append((f"blk.{i}.attn_norm.weight", "F32", (N_EMBD,)))
        for role, t in layer.items():
            out.append((f"blk.{i}.{role}.weight", t, SHAPES[role]))
        out.append((f"blk.{i}.ffn_norm.weight", "F32", (N_EMBD,)))
    out += [("rope_freqs.weight", "F32", (32,)), ("output_norm.weight", "F32", (N_EMBD,)),
            ("output.weight", "Q6_K", (N_VOCAB, N_EMBD))]
    tensors = []
    for name, t, shape in out:
        if t == "F32":
            data = rng.standard_normal(shape).astype(np.float32)
        elif t in GENERATORS:
            data = weight_blocks(rng, t, *shape)
        else:  # an unsupported quantization type: any bytes of the right size
            bs, bb = gguf.GGML_QUANT_SIZES[QT[t]]
            data = rng.integers(0, 256, size=(shape[0], shape[1] // bs * bb), dtype=np.uint8)
        tensors.append((name, t, shape, data))
    return tensors


def write_model(path, seed=7, alignment=None, types=SUPPORTED, unsupported=UNSUPPORTED_EXAMPLES):
    """Writes the model with GGUFWriter; returns model_tensors' list."""
    rng = np.random.default_rng(seed)
    tensors = model_tensors(rng, types, unsupported)
    n_layers = len(model_layers(types, unsupported))
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_name("amxq-test-llama")
    w.add_context_length(512)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(n_layers)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"tok{i}" for i in range(N_VOCAB)])
    w.add_array("amxq.test.nested", [[1, 2, 3], [4.5], ["x", "yz"]])
    w.add_bool("amxq.test.flag", True)
    w.add_uint64("amxq.test.u64", 2**40)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for name, t, shape, data in tensors:
        if t == "F32":
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_dtype=QT[t])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tensors


# ---- corrupted copies ---------------------------------------------------------

def _tensor_fields(path):
    """Byte offsets of each tensor info's parts, found by gguf-py's reader."""
    r = gguf.GGUFReader(str(path))
    out = {}
    for t in r.tensors:
        pos = t.field.offset
        parts = {}
        for label, part in zip(("name_len", "name", "n_dims", "dims", "type", "offset"), t.field.parts):
            parts[label] = pos
            pos += part.nbytes
        out[t.name] = parts
    fields = {name: f.offset for name, f in r.fields.items()}
    data_end = max(t.data_offset + t.n_bytes for t in r.tensors)
    return out, fields, r.data_offset, data_end


def corrupted_copies(path):
    """[(label, bytes, expected message fragment)] for the model at path: each
    must be refused with a one-line error. The fragments tie each case to the
    check that must fire."""
    data = open(path, "rb").read()
    tf, fields, data_offset, data_end = _tensor_fields(path)
    q = tf["blk.0.attn_q.weight"]
    k4 = tf["token_embd.weight"]
    tok = fields["tokenizer.ggml.tokens"]

    def patch(off, fmt, *vals):
        b = bytearray(data)
        struct.pack_into(fmt, b, off, *vals)
        return bytes(b)

    cases = [
        ("bad_magic", b"GGML" + data[4:], "magic"),
        ("version_1", patch(4, "<I", 1), "version 1"),
        ("version_99", patch(4, "<I", 99), "version 99"),
        ("big_endian", patch(4, ">I", 3), "version"),
        ("empty", b"", "too short"),
        ("header_only", data[:23], "too short"),
        ("truncated_header", data[:30], "cannot fit"),
        ("truncated_in_kv", data[:tok + 3000], "truncated: metadata string"),
        ("truncated_in_tensor_infos", data[:q["dims"] + 3], "truncated"),
        ("truncated_in_data", data[:(len(data) + data_offset) // 2], "beyond the end"),
        ("truncated_last_byte", data[:data_end - 1], "beyond the end"),
        ("tensor_count_huge", patch(8, "<Q", 2**62), "cannot fit"),
        ("tensor_count_plus_one", patch(8, "<Q", struct.unpack_from("<Q", data, 8)[0] + 1), ""),
        ("kv_count_huge", patch(16, "<Q", 2**40), "cannot fit"),
        ("key_length_huge", patch(24, "<Q", 2**63), "truncated"),
        ("value_type_unknown", patch(fields["general.architecture"] + 8 + len("general.architecture"), "<I", 13),
         "not a GGUF type"),
        ("array_count_huge", patch(tok + 8 + len("tokenizer.ggml.tokens") + 4 + 4, "<Q", 2**60), "cannot fit"),
        ("n_dims_5", patch(q["n_dims"], "<I", 5), "dimensions"),
        ("dim_absurd", patch(q["dims"] + 8, "<Q", 2**62), "absurd"),
        ("dims_overflow", _patch_many(data, [(q["dims"], "<Q", 2**32), (q["dims"] + 8, "<Q", 2**32)]), "absurd"),
        ("dim_negative", patch(q["dims"] + 8, "<Q", 2**64 - 5), "absurd"),
        ("type_unknown", patch(q["type"], "<I", 200), "unknown type 200"),
        ("type_removed", patch(q["type"], "<I", 4), "unknown type 4"),
        ("offset_beyond_file", patch(q["offset"], "<Q", 2**40), "beyond the end"),
        ("offset_at_end", patch(k4["offset"], "<Q", (len(data) - data_offset + 63) // 64 * 64), "beyond the end"),
        ("offset_misaligned", patch(q["offset"], "<Q", struct.unpack_from("<Q", data, q["offset"])[0] + 1),
         "alignment"),
        ("row_not_whole_blocks", patch(k4["dims"], "<Q", 255), "block size"),
        ("name_length_huge", patch(q["name_len"], "<Q", 2**50), "truncated"),
        ("duplicate_name", _dup_name(data, tf), "twice"),
    ]
    if "general.alignment" in fields:
        a = fields["general.alignment"] + 8 + len("general.alignment") + 4
        cases += [("alignment_zero", patch(a, "<I", 0), "alignment"),
                  ("alignment_not_pow2", patch(a, "<I", 48), "alignment"),
                  ("alignment_huge", patch(a, "<I", 2**31), "alignment")]
    return cases


def _patch_many(data, edits):
    b = bytearray(data)
    for off, fmt, val in edits:
        struct.pack_into(fmt, b, off, val)
    return bytes(b)


def _dup_name(data, tf):
    """blk.1.attn_q.weight renamed to blk.0.attn_q.weight (same length)."""
    off = tf["blk.1.attn_q.weight"]["name"]
    b = bytearray(data)
    assert b[off:off + 5] == b"blk.1"
    b[off + 4] = ord("0")
    return bytes(b)


def mutants(path, count, seed=1):
    """Seeded random damage to the header, metadata and tensor infos of the
    model at path: byte flips, 64-bit field smashes and truncations."""
    rng = np.random.default_rng(seed)
    data = open(path, "rb").read()
    head = gguf.GGUFReader(str(path)).data_offset
    out = []
    for i in range(count):
        b = bytearray(data)
        kind = i % 3
        if kind == 0:
            for _ in range(int(rng.integers(1, 8))):
                b[int(rng.integers(0, head))] = int(rng.integers(0, 256))
        elif kind == 1:
            off = int(rng.integers(0, head - 8))
            vals = [0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1, int(rng.integers(0, 2**16))]
            val = vals[int(rng.integers(0, len(vals)))]
            struct.pack_into("<Q", b, off, val)
        else:
            b = b[:int(rng.integers(0, len(b)))]
        out.append(bytes(b))
    return out


def write_corpus(outdir):
    os.makedirs(outdir, exist_ok=True)
    model = os.path.join(outdir, "model.gguf")
    write_model(model, alignment=64)
    for label, blob, _ in corrupted_copies(model):
        with open(os.path.join(outdir, f"bad_{label}.gguf"), "wb") as f:
            f.write(blob)
    return model


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: ggufgen.py OUTDIR")
    print(write_corpus(sys.argv[1]))
