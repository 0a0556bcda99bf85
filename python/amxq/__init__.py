"""amxq from Python: numpy in, numpy out, through ctypes (no compiled code).

    import numpy as np, amxq
    w = amxq.Weights("Q4_K", n, k, blocks)      # GGUF blocks: bytes or a uint8 array
    y = w.gemm(x)                               # x: float32 (m, k) -> y: float32 (m, n)
    print(w.info, amxq.cpu_info())

Packed weights as images (a header and the packed bytes, see amxq.h), to pack
once and load many times without packing again:

    w.save("w.amxq")                            # or w.to_bytes()
    w2 = amxq.open("w.amxq")                    # the file mapped, not copied
    w3 = amxq.open_memory(image)                # an image in bytes, bytearray, numpy, mmap
    w4 = amxq.pack_into(buf, "Q4_K", n, k, blocks)   # the image written into buf

One x times several handles of the same k (Q, K and V; gate and up), x
quantized once per group of handles that share activations (see amxq.h):

    q, k, v = amxq.gemm_multi([wq, wk, wv], x)  # each as wq.gemm(x) etc., bitwise
    wq.shares_activations(wk)                   # whether one quantization serves both

Expert tensors (ggml's mul_mat_id) and the epilogue (bias, accumulate):

    e = amxq.pack_experts("Q4_K", n_expert, n, k, blocks)   # a 3-D GGUF tensor
    y = e.gemm_experts(x, ids)                  # ids int32 (m, top_k) -> y (m, top_k, n)
    w.gemm(x, bias=b, out=y, accumulate=True)   # y += x @ W.T + b, bitwise the separate passes

The shared library is found through the AMXQ_LIBRARY environment variable (a
path to libamxq.so), then in a build directory of this source tree (build*/),
then on the system's library path; ImportError, listing every place looked,
when none loads.
"""
import ctypes
import ctypes.util
import glob
import operator
import os
import threading

import numpy as np

__all__ = ["AmxError", "Weights", "gemm_multi", "pack_experts", "cpu_info", "dequantize", "TYPES", "ISAS", "MEMORY", "library_path", "version",
           "pack_size", "pack_into", "open", "open_memory", "aligned_buffer"]

ISAS = {"auto": 0, "scalar": 1, "avx512_vnni": 2, "amx": 3}
# who owns a handle's packed bytes (amx_memory), as Weights.info["memory"] names it
MEMORY = {"library": 0, "caller": 1, "mapped": 2}
_STATUS = ["AMX_OK", "AMX_ERR_INVALID_ARG", "AMX_ERR_UNSUPPORTED_TYPE", "AMX_ERR_BAD_SHAPE",
           "AMX_ERR_SIZE_MISMATCH", "AMX_ERR_NO_MEMORY", "AMX_ERR_ISA_UNAVAILABLE", "AMX_ERR_WORKSPACE",
           "AMX_ERR_BUFFER", "AMX_ERR_BAD_FORMAT", "AMX_ERR_VERSION", "AMX_ERR_TRUNCATED", "AMX_ERR_CHECKSUM",
           "AMX_ERR_IO"]
_INVALID_ARG = 1
_UNSUPPORTED_TYPE = 2
_BAD_SHAPE = 3
_SIZE_MISMATCH = 4
_BUFFER = 8
_IO = 13
_IMAGE_ALIGN = 64  # where an image must start (amx_pack_size reports it too)


class AmxError(Exception):
    """A failed amxq call: .status (the amx_status number), .name (e.g.
    "AMX_ERR_BAD_SHAPE"), .message (what went wrong) and .errno (the C errno
    of an AMX_ERR_IO, else None)."""

    def __init__(self, status, message, errno=None):
        self.status = int(status)
        self.name = _STATUS[self.status] if 0 <= self.status < len(_STATUS) else f"AMX_STATUS_{self.status}"
        self.message = message
        self.errno = errno
        super().__init__(f"{self.name}: {message}")


# ---- the library ----------------------------------------------------------------

def _candidates(looked):
    """[(path or name to load, how to name the place)] in order; places
    that cannot hold the library go to `looked` with the reason."""
    env = os.environ.get("AMXQ_LIBRARY")
    if env:
        return [(env, f"AMXQ_LIBRARY={env}")]  # an explicit choice: never fall back to another library
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pattern = os.path.join(root, "build*", "libamxq.so")
    built = []
    for p in glob.glob(pattern):
        try:
            built.append((os.path.getmtime(p), p))  # follows the link
        except OSError as e:
            # a build directory whose library was not built (only some
            # targets compiled) holds a dangling libamxq.so link
            looked.append(f"{p} (skipped: {e.strerror or e})")
    if not built and not looked:
        looked.append(f"{pattern} (no such file)")
    try:
        system = ctypes.util.find_library("amxq")
    except Exception:  # find_library runs ldconfig/gcc and may fail in odd ways
        system = None
    return [(p, p) for _, p in sorted(built, reverse=True)] + \
        [(system or "libamxq.so.0", f"{system or 'libamxq.so.0'} on the system library path")]


def _load():
    """(the library, its path, the places looked before it); ImportError,
    saying every place looked and why each failed, when none loads."""
    looked = []
    for p, place in _candidates(looked):
        try:
            return ctypes.CDLL(p, use_errno=True), p, looked
        except (OSError, ValueError) as e:
            looked.append(f"{place} ({e})")
    env = os.environ.get("AMXQ_LIBRARY")
    hint = "AMXQ_LIBRARY is set, so only it was tried" if env else \
        "set AMXQ_LIBRARY to the path of libamxq.so, build the library, or install it"
    raise ImportError(f"amxq: cannot load libamxq.so; looked at: {'; '.join(looked)} ({hint})")


_lib, library_path, _looked = _load()


class _PackOpts(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("isa", ctypes.c_int), ("n_threads", ctypes.c_int32),
                ("flags", ctypes.c_uint32)]


class _GemmOpts(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("n_threads", ctypes.c_int32), ("flags", ctypes.c_uint32),
                ("amx_min_m", ctypes.c_int32), ("bias", ctypes.c_void_p)]


_ACCUMULATE = 1  # AMX_GEMM_ACCUMULATE


class _WeightsInfo(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("type", ctypes.c_int), ("n", ctypes.c_int64), ("k", ctypes.c_int64),
                ("isa", ctypes.c_int), ("amx_min_m", ctypes.c_int32), ("packed_bytes", ctypes.c_uint64),
                ("gguf_bytes", ctypes.c_uint64), ("kernel", ctypes.c_char_p), ("layout", ctypes.c_char_p),
                ("memory", ctypes.c_int), ("n_expert", ctypes.c_int64)]


class _OpenOpts(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("n_threads", ctypes.c_int32)]


def _fn(name, restype, *argtypes):
    try:
        f = getattr(_lib, name)
    except AttributeError:
        before = f" (looked at before it: {'; '.join(_looked)})" if _looked else ""
        raise ImportError(f"amxq: {library_path} has no {name}: it is not libamxq, or one older than this "
                          f"binding{before}; set AMXQ_LIBRARY to a current libamxq.so") from None
    f.restype = restype
    f.argtypes = argtypes
    return f


_c_int, _i64, _vp, _str, _size = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
_pack = _fn("amx_pack_weights", _c_int, _c_int, _i64, _i64, _vp, _size, ctypes.POINTER(_PackOpts),
            ctypes.POINTER(_vp))
_pack_size = _fn("amx_pack_size", _c_int, _c_int, _i64, _i64, ctypes.POINTER(_PackOpts), ctypes.POINTER(_size),
                 ctypes.POINTER(_size))
_pack_into = _fn("amx_pack_weights_into", _c_int, _c_int, _i64, _i64, _vp, _size, ctypes.POINTER(_PackOpts),
                 _vp, _size, ctypes.POINTER(_vp))
_save = _fn("amx_weights_save", _c_int, _vp, _str)
_save_to = _fn("amx_weights_save_to", _c_int, _vp, _vp, _size, ctypes.POINTER(_size))
_open = _fn("amx_weights_open", _c_int, _str, ctypes.POINTER(_OpenOpts), ctypes.POINTER(_vp))
_open_memory = _fn("amx_weights_open_memory", _c_int, _vp, _size, ctypes.POINTER(_OpenOpts), ctypes.POINTER(_vp))
_gemm = _fn("amx_gemm_q", _c_int, _vp, _i64, _vp, _i64, _vp, _i64, ctypes.POINTER(_GemmOpts))
_gemm_multi = _fn("amx_gemm_q_multi", _c_int, ctypes.POINTER(_vp), ctypes.c_int32, _i64, _vp, _i64,
                  ctypes.POINTER(_vp), ctypes.POINTER(_i64), ctypes.POINTER(_GemmOpts))
_pack_experts = _fn("amx_pack_experts", _c_int, _c_int, _i64, _i64, _i64, _vp, _size, ctypes.POINTER(_PackOpts),
                    ctypes.POINTER(_vp))
_pack_experts_size = _fn("amx_pack_experts_size", _c_int, _c_int, _i64, _i64, _i64, ctypes.POINTER(_PackOpts),
                         ctypes.POINTER(_size), ctypes.POINTER(_size))
_pack_experts_into = _fn("amx_pack_experts_into", _c_int, _c_int, _i64, _i64, _i64, _vp, _size,
                         ctypes.POINTER(_PackOpts), _vp, _size, ctypes.POINTER(_vp))
_gemm_experts = _fn("amx_gemm_q_experts", _c_int, _vp, _i64, _vp, _i64, _vp, ctypes.c_int32, _vp, _i64,
                    ctypes.POINTER(_GemmOpts))
_share_acts = _fn("amx_weights_share_activations", ctypes.c_int32, _vp, _vp)
_free = _fn("amx_weights_free", None, _vp)
_query = _fn("amx_weights_query", _c_int, _vp, ctypes.POINTER(_WeightsInfo))
_kernel = _fn("amx_weights_kernel", _str, _vp, _i64)
_status_str = _fn("amx_status_str", _str, _c_int)
_dequantize = _fn("amx_dequantize", _c_int, _c_int, _i64, _vp, _size, _vp)
_block_size = _fn("amx_type_block_size", ctypes.c_int32, _c_int)
_block_bytes = _fn("amx_type_block_bytes", ctypes.c_int32, _c_int)
_type_name = _fn("amx_type_name", _str, _c_int)
_isa_name = _fn("amx_isa_name", _str, _c_int)
_best_isa = _fn("amx_cpu_best_isa", _c_int)
_supports = _fn("amx_cpu_supports", ctypes.c_int32, _c_int, ctypes.POINTER(_str))
_report = _fn("amx_cpu_report", _str)
_version_str = _fn("amx_version_str", _str)
_type_count = _fn("amx_type_count", ctypes.c_int32)
_type_at = _fn("amx_type_at", _c_int, ctypes.c_int32)

# The weight types the loaded library implements, name -> ggml type number,
# read from its own table.
TYPES = {_type_name(_type_at(i)).decode(): _type_at(i) for i in range(_type_count())}


def version():
    """The loaded library's version string, e.g. "0.2.0 (abc1234)"."""
    return _version_str().decode()


def _check(status, what):
    if status != 0:
        if status == _IO:  # the call set errno (ctypes keeps it per thread, see use_errno)
            err = ctypes.get_errno()
            raise AmxError(status, f"{what}: {_status_str(status).decode()}: {os.strerror(err)}", errno=err)
        raise AmxError(status, f"{what}: {_status_str(status).decode()}")


# ---- argument conversion ----------------------------------------------------------

def _type_id(t):
    if isinstance(t, str):
        for name, tid in TYPES.items():
            if name.upper() == t.upper():
                return tid
        raise AmxError(_UNSUPPORTED_TYPE, f"unknown weight type {t!r} (one of {', '.join(TYPES)})")
    try:
        tid = operator.index(t)
    except TypeError:
        raise AmxError(_INVALID_ARG, f"type must be a name like 'Q4_K' or a ggml type number, not {t!r}") from None
    if not -2**31 <= tid < 2**31 or _block_size(tid) == 0:
        raise AmxError(_UNSUPPORTED_TYPE, f"ggml type {tid} is not supported (supported: {TYPES})")
    return tid


def _isa_id(isa):
    """"auto", "scalar", "avx512_vnni", "amx" (any case) or their numbers 0..3."""
    if isinstance(isa, str):
        if isa.lower() in ISAS:
            return ISAS[isa.lower()]
    else:
        try:
            i = operator.index(isa)
        except TypeError:
            i = None
        if i in ISAS.values():
            return i
    raise AmxError(_INVALID_ARG, f"isa must be one of {', '.join(ISAS)} (any case) or its number "
                                 f"{min(ISAS.values())}..{max(ISAS.values())}, not {isa!r}")


def _int_arg(v, what, lo, hi=2**63 - 1):
    try:
        i = operator.index(v)
    except TypeError:
        raise AmxError(_INVALID_ARG, f"{what} must be an integer, not {type(v).__name__}") from None
    if not lo <= i <= hi:
        raise AmxError(_INVALID_ARG, f"{what} = {i} is out of range [{lo}, {hi}]")
    return i


def _block_buffer(data, rows=None, row_bytes=None):
    """bytes-like or a uint8 array of GGUF blocks -> a C-contiguous 1-D uint8
    array (no copy when possible).

    A 1-D array may have any stride: its order is its bytes' order. A 2-D
    array must hold each row contiguously (rows at any stride, e.g. every
    other row of a larger array): a transposed or Fortran-ordered one lists its
    bytes in another order than memory holds them, and which order was meant
    cannot be told (a square one has the same shape either way). Its shape
    must be (rows, row_bytes) where the caller knows them (the weights: n rows
    of k / block * block_bytes), else its rows whole numbers of blocks
    (rows None, row_bytes the block's bytes)."""
    if not isinstance(data, np.ndarray):
        try:
            mv = memoryview(data)
        except TypeError:
            raise AmxError(_INVALID_ARG,
                           f"data must be bytes or a uint8 array of GGUF blocks, not {type(data).__name__}") from None
        try:
            if mv.ndim == 1 and mv.c_contiguous:
                return np.frombuffer(mv.cast("B") if mv.format != "B" else mv, dtype=np.uint8)
            data = np.asarray(mv)  # strided or multi-dimensional: checked as an array
        except (TypeError, ValueError) as e:  # a format that is no plain numbers
            raise AmxError(_INVALID_ARG, f"data cannot be read as bytes: {e}") from None
    if data.dtype != np.uint8:
        raise AmxError(_INVALID_ARG, f"data must be bytes or a uint8 array of GGUF blocks, not a {data.dtype} array")
    if data.ndim == 1:
        return np.ascontiguousarray(data)
    if data.ndim != 2:
        raise AmxError(_INVALID_ARG, f"data must be a 1-D or 2-D uint8 array, not of shape {data.shape}")
    want = f"({rows}, {row_bytes}): n rows of k / block * block_bytes bytes" if rows else \
        f"(rows, a multiple of {row_bytes})"
    if data.strides[1] != 1:
        raise AmxError(_INVALID_ARG, f"a 2-D data array must be row-major of shape {want}, each row contiguous; "
                                     f"this one (strides {data.strides}) is transposed or Fortran-ordered: its bytes "
                                     f"are not in the order it lists them. Pass the array it was made from, or "
                                     f"np.ascontiguousarray(data) if its rows really are the weight rows")
    if (data.shape != (rows, row_bytes)) if rows else (data.shape[1] % row_bytes != 0):
        status = _INVALID_ARG if not rows or data.size == rows * row_bytes else _SIZE_MISMATCH
        raise AmxError(status, f"data has shape {data.shape}, the weights need {want}")
    return np.ascontiguousarray(data).reshape(-1)


def _byte_view(obj, what, writable=False):
    """A 1-D uint8 array over the memory of a buffer-protocol object (no
    copy); it holds the object's buffer export, so the object stays alive and
    cannot be resized or closed (bytearray, mmap) while the array lives."""
    try:
        mv = memoryview(obj)
    except TypeError:
        raise AmxError(_INVALID_ARG, f"{what} must support the buffer protocol (bytes, bytearray, a numpy array, "
                                     f"mmap), not {type(obj).__name__}") from None
    if not mv.c_contiguous:
        raise AmxError(_INVALID_ARG, f"{what} must be contiguous")
    if writable and mv.readonly:
        raise AmxError(_INVALID_ARG, f"{what} is read-only: it must be writable")
    try:
        return np.frombuffer(mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv, dtype=np.uint8)
    except (TypeError, ValueError) as e:
        raise AmxError(_INVALID_ARG, f"{what} cannot be read as bytes: {e}") from None


def _activations(x, k):
    """x -> (float32 array with unit column stride, its row stride, 1-D?)."""
    try:
        a = np.asarray(x)
    except Exception as e:  # objects numpy cannot turn into an array
        raise AmxError(_INVALID_ARG, f"x cannot be converted to a float32 array: {e}") from None
    if a.dtype != np.float32:
        if a.dtype.kind not in "fiub":
            raise AmxError(_INVALID_ARG, f"x must be real numbers convertible to float32, not dtype {a.dtype}")
        a = a.astype(np.float32)
    if a.ndim not in (1, 2):
        raise AmxError(_INVALID_ARG, f"x must have shape (m, {k}) or ({k},), not {a.shape}")
    vector = a.ndim == 1
    if vector:
        a = a.reshape(1, -1)
    if a.shape[1] != k:
        raise AmxError(_INVALID_ARG, f"x has {a.shape[1]} columns, the weights have k = {k}")
    # rows may be strided (a slice of a wider array) as long as each row is contiguous
    if not (a.flags.aligned and a.strides[1] == 4 and a.strides[0] % 4 == 0 and a.strides[0] >= 4 * k):
        a = np.ascontiguousarray(a)
    ldx = a.strides[0] // 4 if a.shape[0] > 1 else k
    return a, max(ldx, k), vector


def _output(out, a, n, vector):
    """gemm's out= for activations a (m, k) -> (out as an (m, n) view, its row
    stride ldy in floats). Checked, never copied: the library writes it."""
    m = a.shape[0]
    want = (n,) if vector else (m, n)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32:
        what = f"a {out.dtype} array" if isinstance(out, np.ndarray) else type(out).__name__
        raise AmxError(_INVALID_ARG, f"out must be a float32 numpy array of shape {want}, not {what}")
    if out.shape != want:
        raise AmxError(_INVALID_ARG, f"out has shape {out.shape}, the result has shape {want}")
    if not out.flags.writeable:
        raise AmxError(_INVALID_ARG, "out is read-only")
    y = out[None, :] if vector else out
    # each row contiguous; rows at a stride of at least n floats (a slice of a wider array is fine)
    if m and not (y.flags.aligned and (y.strides[1] == 4 or n == 1) and
                  (m == 1 or (y.strides[0] % 4 == 0 and y.strides[0] >= 4 * n))):
        raise AmxError(_INVALID_ARG, f"out must hold each row contiguously, rows at an increasing stride of at "
                                     f"least n = {n} floats; its strides are {out.strides}")
    if m and np.shares_memory(a, y):
        raise AmxError(_INVALID_ARG, "out overlaps x")
    return y, (y.strides[0] // 4 if m > 1 else n)


def _bias_arg(bias, count, what):
    """bias for the epilogue -> a contiguous float32 array of `count` values, or None."""
    if bias is None:
        return None
    try:
        b = np.asarray(bias)
    except Exception as e:
        raise AmxError(_INVALID_ARG, f"bias cannot be converted to a float32 array: {e}") from None
    if b.dtype.kind not in "fiub":
        raise AmxError(_INVALID_ARG, f"bias must be real numbers convertible to float32, not dtype {b.dtype}")
    if b.size != count:
        raise AmxError(_INVALID_ARG, f"bias has {b.size} values, {what} takes {count}")
    return np.ascontiguousarray(b, dtype=np.float32).reshape(-1)


def _gemm_opts(threads, amx_min_m, bias, accumulate):
    return _GemmOpts(ctypes.sizeof(_GemmOpts), threads, _ACCUMULATE if accumulate else 0, amx_min_m,
                     bias.ctypes.data if bias is not None else None)


def _accumulate_arg(accumulate, out):
    if accumulate not in (True, False, 0, 1):
        raise AmxError(_INVALID_ARG, f"accumulate must be True or False, not {accumulate!r}")
    if accumulate and out is None:
        raise AmxError(_INVALID_ARG, "accumulate=True adds to out: pass the array to add to as out=")
    return bool(accumulate)


# ---- handles ----------------------------------------------------------------------------

class Weights:
    """A packed weight matrix: n rows of k elements of GGUF blocks.

    Weights(type, n, k, data, isa="auto", threads=1)
      type     "Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS", ..., any case, or the ggml type number
      data     bytes (or any buffer) or a uint8 array: n * k / block * block_bytes bytes,
               as a GGUF file holds the tensor; copied, so it may be released afterwards.
               A 2-D array must have shape (n, k / block * block_bytes), each row
               contiguous: a transposed or Fortran-ordered one is refused
      isa      "auto", "scalar", "avx512_vnni" or "amx" (any case), or the amx_isa number 0..3
      threads  threads for packing and, by default, for each gemm

    amxq.open, amxq.open_memory and amxq.pack_into make Weights from packed
    images. Safe to share between Python threads; close() (or leaving a with
    block) frees the packed memory once, waiting for multiplies still running.
    """

    def __init__(self, type, n, k, data, isa="auto", threads=1):
        self._init_state(threads)
        tid, n, k, blocks, opts = _pack_args(type, n, k, data, isa, self.threads)
        h = _vp()
        _check(_pack(tid, n, k, blocks.ctypes.data if blocks.size else None, blocks.size, ctypes.byref(opts),
                     ctypes.byref(h)), f"pack {_type_name(tid).decode()} n={n} k={k} ({blocks.size} bytes)")
        self._handle = h.value
        self.n, self.k, self.n_expert = n, k, 0

    def _init_state(self, threads):
        self._handle = None
        self._keep = None  # (caller's object, byte view) of an image this handle uses in place
        self._cv = threading.Condition()
        self._users = 0
        self.threads = _int_arg(threads, "threads", 0, 1024)

    @classmethod
    def _adopt(cls, handle, threads, keep=None):
        """Weights for a handle the library just made; keep: what holds its
        image, referenced until the handle is freed."""
        self = cls.__new__(cls)
        self._init_state(threads)
        self._handle = handle
        i = self._query(handle)
        self.n, self.k, self.n_expert = i.n, i.k, i.n_expert
        if i.memory == MEMORY["caller"]:
            self._keep = keep  # else (an image repacked into library memory) nothing refers to it
        return self

    # the handle is borrowed by each call and freed only when nobody holds it
    def _borrow(self):
        with self._cv:
            if self._handle is None:
                raise AmxError(_INVALID_ARG, "the weights were freed (closed)")
            self._users += 1
            return self._handle

    def _give_back(self):
        with self._cv:
            self._users -= 1
            if self._users == 0:
                self._cv.notify_all()

    def close(self):
        """Frees the packed weights (once; later calls do nothing), then lets
        go of the buffer an image in caller memory lives in."""
        cv = getattr(self, "_cv", None)
        if cv is None:
            return
        with cv:
            while self._users:
                cv.wait()
            h, self._handle = self._handle, None
        if h is not None:
            _free(h)
        self._keep = None

    free = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    @property
    def closed(self):
        return self._handle is None

    @property
    def buffer(self):
        """The object whose memory holds the packed image when that memory is
        the caller's (info["memory"] == "caller"): the buffer given to
        open_memory or pack_into, or the aligned copy open_memory made of it.
        None otherwise, and once closed. Must not change while the weights live."""
        keep = self._keep
        return keep[0] if keep else None

    def gemm(self, x, threads=None, amx_min_m=0, out=None, bias=None, accumulate=False):
        """y = x @ W.T: x float32 (m, k) (or (k,)) -> float32 (m, n) (or (n,)).

        Other real dtypes are converted to float32; anything else raises
        AmxError. threads defaults to the handle's; amx_min_m overrides the
        AMX/VNNI crossover on AMX handles (0 = the handle's default).
        out: a writable float32 array of the result's shape to write into
        (each row contiguous, rows at any stride of at least n floats, e.g. a
        column slice of a wider array; not overlapping x); it is returned.
        On an error it is not written.
        bias: n values added to every row; accumulate=True adds the result
        to out instead of overwriting it: out = out + (x @ W.T + bias), one
        float32 addition each, bitwise the separate passes (amxq.h)."""
        threads = self.threads if threads is None else _int_arg(threads, "threads", 0, 1024)
        amx_min_m = _int_arg(amx_min_m, "amx_min_m", 0, 2**31 - 1)
        accumulate = _accumulate_arg(accumulate, out)
        if self.n_expert:
            raise AmxError(_INVALID_ARG, "these are expert weights: use gemm_experts")
        bias = _bias_arg(bias, self.n, "gemm (n)")
        h = self._borrow()
        try:
            a, ldx, vector = _activations(x, self.k)
            m = a.shape[0]
            if out is None:
                y, ldy = np.empty((m, self.n), dtype=np.float32), self.n
            else:
                y, ldy = _output(out, a, self.n, vector)
            if m:
                opts = _gemm_opts(threads, amx_min_m, bias, accumulate)
                _check(_gemm(h, m, a.ctypes.data, ldx, y.ctypes.data, ldy, ctypes.byref(opts)),
                       f"gemm m={m} k={self.k} n={self.n}")
        finally:
            self._give_back()
        if out is not None:
            return out
        return y[0] if vector else y

    def gemm_experts(self, x, ids, threads=None, amx_min_m=0, out=None, bias=None, accumulate=False):
        """ggml's mul_mat_id on expert weights (pack_experts): x float32 (m, k)
        and ids integers (m, top_k) in [0, n_expert) -> y float32 (m, top_k, n)
        with y[i, s] = x[i] @ W[ids[i, s]].T. Each y[i, s] is bitwise what
        gemm on that expert alone gives for x[i] among the rows routed to it.
        An id may repeat within a row. out: a C-contiguous float32 array of
        shape (m, top_k, n) to write into. bias: (n_expert, n) values, the
        slot's expert's row added; accumulate: as for gemm."""
        threads = self.threads if threads is None else _int_arg(threads, "threads", 0, 1024)
        amx_min_m = _int_arg(amx_min_m, "amx_min_m", 0, 2**31 - 1)
        accumulate = _accumulate_arg(accumulate, out)
        if not self.n_expert:
            raise AmxError(_INVALID_ARG, "these are matrix weights: use gemm (gemm_experts needs pack_experts)")
        bias = _bias_arg(bias, self.n_expert * self.n, "gemm_experts (n_expert * n)")
        h = self._borrow()
        try:
            a, ldx, vector = _activations(x, self.k)
            if vector:
                raise AmxError(_INVALID_ARG, f"x must have shape (m, {self.k})")
            m = a.shape[0]
            try:
                ia = np.asarray(ids)
            except Exception as e:
                raise AmxError(_INVALID_ARG, f"ids cannot be converted to an int32 array: {e}") from None
            if ia.dtype.kind not in "iu" or ia.ndim != 2 or ia.shape[0] != m or not 1 <= ia.shape[1] <= 4096:
                raise AmxError(_INVALID_ARG, f"ids must be integers of shape (m = {m}, top_k) with 1 <= top_k "
                                             f"<= 4096, not {ia.dtype} {ia.shape}")
            if ia.size and (ia.min() < 0 or ia.max() >= self.n_expert):
                raise AmxError(_INVALID_ARG, f"ids must lie in [0, {self.n_expert}): found {ia.min()}..{ia.max()}")
            ia = np.ascontiguousarray(ia, dtype=np.int32)
            top = ia.shape[1]
            want = (m, top, self.n)
            if out is None:
                y = np.empty(want, dtype=np.float32)
            else:
                if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != want or \
                        not out.flags.c_contiguous or not out.flags.writeable:
                    raise AmxError(_INVALID_ARG, f"out must be a writable C-contiguous float32 array of shape {want}")
                if out.size and np.shares_memory(a, out):
                    raise AmxError(_INVALID_ARG, "out overlaps x")
                y = out
            if m:
                opts = _gemm_opts(threads, amx_min_m, bias, accumulate)
                _check(_gemm_experts(h, m, a.ctypes.data, ldx, ia.ctypes.data, top, y.ctypes.data, self.n,
                                     ctypes.byref(opts)),
                       f"gemm_experts m={m} top_k={top} k={self.k} n={self.n} n_expert={self.n_expert}")
        finally:
            self._give_back()
        return y

    def shares_activations(self, other):
        """Whether activations quantized for this handle serve `other` too
        (amx_weights_share_activations: the same k and activation format), so
        gemm_multi quantizes x once for both."""
        if not isinstance(other, Weights):
            raise AmxError(_INVALID_ARG, f"other must be amxq.Weights, not {type(other).__name__}")
        h = self._borrow()
        try:
            g = other._borrow()
            try:
                return bool(_share_acts(h, g))
            finally:
                other._give_back()
        finally:
            self._give_back()

    def kernel(self, m=1):
        """Name of the kernel a multiply of m rows runs."""
        h = self._borrow()
        try:
            return _kernel(h, _int_arg(m, "m", 0)).decode()
        finally:
            self._give_back()

    @staticmethod
    def _query(h):
        i = _WeightsInfo(size=ctypes.sizeof(_WeightsInfo))
        _check(_query(h, ctypes.byref(i)), "query")
        return i

    @property
    def info(self):
        """dict: type, n, k, isa, kernel (for m = 1), layout, packed_bytes (the
        image's size), gguf_bytes, amx_min_m, memory (who owns the packed bytes:
        "library", "caller" (pack_into, open_memory) or "mapped" (open))."""
        h = self._borrow()
        try:
            i = self._query(h)
            memory = {v: name for name, v in MEMORY.items()}.get(i.memory, f"unknown ({i.memory})")
            return {"type": _type_name(i.type).decode(), "n": i.n, "k": i.k, "isa": _isa_name(i.isa).decode(),
                    "kernel": _kernel(h, 1).decode(), "layout": i.layout.decode(),
                    "packed_bytes": i.packed_bytes, "gguf_bytes": i.gguf_bytes, "amx_min_m": i.amx_min_m,
                    "memory": memory, "n_expert": i.n_expert}
        finally:
            self._give_back()

    # ---- images ----

    def save(self, path):
        """Writes the packed image to the file path (str, bytes or os.PathLike),
        created or replaced atomically (through a temporary file in the same
        directory). amxq.open(path) loads it without packing again. An I/O
        failure raises AmxError AMX_ERR_IO with .errno."""
        p = _path_arg(path)
        h = self._borrow()
        try:
            ctypes.set_errno(0)
            _check(_save(h, p), f"save {os.fsdecode(p)!r}")
        finally:
            self._give_back()

    def save_to(self, buffer):
        """Copies the packed image into the start of a writable buffer (any
        alignment, at least info["packed_bytes"] long, else AMX_ERR_BUFFER and
        nothing written); returns the image's size in bytes."""
        dst = _byte_view(buffer, "buffer", writable=True)
        h = self._borrow()
        try:
            written = _size()
            st = _save_to(h, dst.ctypes.data, dst.size, ctypes.byref(written))
            if st == _BUFFER:
                raise AmxError(st, f"the image takes {written.value} bytes, the buffer holds {dst.size}")
            _check(st, "save_to")
            return written.value
        finally:
            self._give_back()

    def to_bytes(self):
        """The packed image as bytes (for amxq.open_memory, a socket, a database)."""
        h = self._borrow()
        try:
            size = _size()
            st = _save_to(h, None, 0, ctypes.byref(size))
            if st != _BUFFER:  # asking with no buffer always reports a buffer too small
                _check(st, "save_to")
            image = ctypes.create_string_buffer(size.value)
            _check(_save_to(h, image, size.value, ctypes.byref(size)), "save_to")
        finally:
            self._give_back()
        return image.raw

    def __repr__(self):
        if self.closed:
            return "<amxq.Weights (freed)>"
        i = self.info
        ne = f" n_expert={i['n_expert']}" if i["n_expert"] else ""
        return f"<amxq.Weights {i['type']}{ne} n={i['n']} k={i['k']} {i['isa']} {i['kernel']}>"


def gemm_multi(weights, x, threads=1, outs=None, bias=None, accumulate=False):
    """[w.gemm(x) for w in weights], bitwise, with x quantized once per group
    of handles that share activations (Weights.shares_activations).

    weights: a non-empty sequence of Weights, all of the same k (else AmxError
    AMX_ERR_BAD_SHAPE; n may differ; a handle may repeat). x as for
    Weights.gemm: float32 (m, k) or (k,). Returns a list of float32 arrays,
    (m, n_i) each ((n_i,) for a 1-D x). outs: None, or one array per handle,
    each as gemm's out= (float32, the result's shape, rows contiguous, not
    overlapping x nor each other); then outs' arrays are returned. On an error
    nothing is written. bias: every handle's n values one after the other
    (sum of the n values in all); accumulate=True adds to outs (as gemm)."""
    if isinstance(weights, Weights) or not hasattr(weights, "__len__"):
        raise AmxError(_INVALID_ARG, f"weights must be a sequence of amxq.Weights, not {type(weights).__name__}")
    ws = list(weights)
    if not ws:
        raise AmxError(_INVALID_ARG, "weights is empty: gemm_multi needs at least one handle")
    if len(ws) >= 2**31:
        raise AmxError(_INVALID_ARG, f"{len(ws)} handles are too many")
    for i, w in enumerate(ws):
        if not isinstance(w, Weights):
            raise AmxError(_INVALID_ARG, f"weights[{i}] must be amxq.Weights, not {type(w).__name__}")
    ks = [w.k for w in ws]
    if any(k != ks[0] for k in ks):
        raise AmxError(_BAD_SHAPE, f"the handles' k differ ({ks}): one x multiplies handles of the same k only")
    if outs is not None:
        if isinstance(outs, np.ndarray) or not hasattr(outs, "__len__"):
            raise AmxError(_INVALID_ARG, f"outs must be a sequence of one array per handle, not "
                                         f"{type(outs).__name__}")
        outs = list(outs)
        if len(outs) != len(ws):
            raise AmxError(_INVALID_ARG, f"outs holds {len(outs)} arrays for {len(ws)} handles")
    threads = _int_arg(threads, "threads", 0, 1024)
    accumulate = _accumulate_arg(accumulate, outs)
    for i, w in enumerate(ws):
        if w.n_expert:
            raise AmxError(_INVALID_ARG, f"weights[{i}] are expert weights: gemm_multi takes matrices")
    bias = _bias_arg(bias, sum(w.n for w in ws), "gemm_multi (the sum of the handles' n)")
    handles = []
    try:
        for w in ws:
            handles.append(w._borrow())
        k = ks[0]
        a, ldx, vector = _activations(x, k)
        m = a.shape[0]
        ys, ldys = [], []
        for i, w in enumerate(ws):
            if outs is None:
                y, ldy = np.empty((m, w.n), dtype=np.float32), w.n
            else:
                try:
                    y, ldy = _output(outs[i], a, w.n, vector)
                except AmxError as e:
                    raise AmxError(e.status, f"outs[{i}]: {e.message}") from None
                for j in range(i):
                    if m and np.shares_memory(ys[j], y):
                        raise AmxError(_INVALID_ARG, f"outs[{i}] overlaps outs[{j}]")
            ys.append(y)
            ldys.append(ldy)
        if m:
            count = len(ws)
            opts = _gemm_opts(threads, 0, bias, accumulate)
            _check(_gemm_multi((_vp * count)(*handles), count, m, a.ctypes.data, ldx,
                               (_vp * count)(*[y.ctypes.data for y in ys]), (_i64 * count)(*ldys),
                               ctypes.byref(opts)),
                   f"gemm_multi of {count} handles m={m} k={k} n={[w.n for w in ws]}")
    finally:
        for w in ws[:len(handles)]:
            w._give_back()
    if outs is not None:
        return outs
    return [y[0] for y in ys] if vector else ys


def _pack_args(type, n, k, data, isa, threads, n_expert=1):
    """Weights' and pack_into's arguments, checked -> (type id, n, k, blocks, pack options)."""
    tid = _type_id(type)
    n = _int_arg(n, "n", 1)
    k = _int_arg(k, "k", 1)
    bs, bb = _block_size(tid), _block_bytes(tid)
    # the row shape a 2-D array must have; an unusable k is the library's to report (AMX_ERR_BAD_SHAPE)
    blocks = _block_buffer(data, n * n_expert, k // bs * bb) if k % bs == 0 else _block_buffer(data, None, bb)
    return tid, n, k, blocks, _PackOpts(ctypes.sizeof(_PackOpts), _isa_id(isa), threads, 0)


def pack_experts(type, n_expert, n, k, data, isa="auto", threads=1):
    """Expert weights: n_expert matrices of n x k, as a GGUF file holds a 3-D
    tensor of ne = {k, n, n_expert} (expert 0's blocks first). data: bytes or a
    uint8 array of n_expert * n * k / block * block_bytes bytes (a 3-D array
    of shape (n_expert, n, k / block * block_bytes) too). Returns Weights whose
    n_expert is set; multiply with gemm_experts. save / open / to_bytes /
    open_memory work as for matrices."""
    threads = _int_arg(threads, "threads", 0, 1024)
    ne = _int_arg(n_expert, "n_expert", 1)
    tid, n, k, blocks, opts = _pack_args(type, n, k, _experts_flat(data, ne), isa, threads, ne)
    h = _vp()
    _check(_pack_experts(tid, ne, n, k, blocks.ctypes.data if blocks.size else None, blocks.size,
                         ctypes.byref(opts), ctypes.byref(h)),
           f"pack_experts {_type_name(tid).decode()} n_expert={ne} n={n} k={k} ({blocks.size} bytes)")
    return Weights._adopt(h.value, threads)


def _experts_flat(data, ne):
    """A 3-D array of expert blocks as the 2-D array of all their rows."""
    if isinstance(data, np.ndarray) and data.ndim == 3:
        if data.shape[0] != ne:
            raise AmxError(_INVALID_ARG, f"data holds {data.shape[0]} experts, n_expert is {ne}")
        return data.reshape(data.shape[0] * data.shape[1], data.shape[2])
    return data


def _path_arg(path):
    try:
        p = os.fsencode(path)
    except TypeError:
        raise AmxError(_INVALID_ARG, f"path must be a str, bytes or os.PathLike, not {type(path).__name__}") from None
    if not p or b"\0" in p:
        raise AmxError(_INVALID_ARG, f"path {path!r} is empty or holds a NUL character")
    return p


def _open_opts(repack, verify, threads):
    flags = (1 if repack else 0) | (0 if verify else 2)  # AMX_OPEN_REPACK, AMX_OPEN_NO_VERIFY
    return _OpenOpts(ctypes.sizeof(_OpenOpts), flags, _int_arg(threads, "threads", 0, 1024))


# ---- functions ---------------------------------------------------------------------------

def dequantize(type, data):
    """GGUF blocks (bytes or uint8 array) -> float32 values, as ggml decodes them."""
    tid = _type_id(type)
    bs, bb = _block_size(tid), _block_bytes(tid)
    buf = _block_buffer(data, None, bb)
    if buf.size == 0 or buf.size % bb:
        raise AmxError(_SIZE_MISMATCH,
                       f"{buf.size} bytes are not a whole number of {_type_name(tid).decode()} blocks ({bb} bytes)")
    out = np.empty(buf.size // bb * bs, dtype=np.float32)
    _check(_dequantize(tid, out.size, buf.ctypes.data, buf.size, out.ctypes.data), "dequantize")
    return out


# ---- packed images ---------------------------------------------------------------------------

def aligned_buffer(nbytes, align=_IMAGE_ALIGN):
    """An uninitialized uint8 numpy array of nbytes whose data starts at a
    multiple of align (a power of two): memory for pack_into, or to read an
    image file into (f.readinto(buf)) for open_memory without a copy."""
    nbytes = _int_arg(nbytes, "nbytes", 0)
    align = _int_arg(align, "align", 1, 1 << 30)
    if align & (align - 1):
        raise AmxError(_INVALID_ARG, f"align = {align} is not a power of two")
    raw = np.empty(nbytes + align, dtype=np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + nbytes]  # the view keeps raw alive


def pack_size(type, n, k, isa="auto", threads=1, n_expert=0):
    """(bytes, align): the size of the image packing these weights with these
    options makes on this machine, and the alignment its start needs (what
    pack_into's buffer must have). "auto" means the family this machine
    picks, so ask with the isa you will pack with. n_expert >= 1: expert
    weights (pack_experts); 0: a matrix."""
    tid = _type_id(type)
    n = _int_arg(n, "n", 1)
    k = _int_arg(k, "k", 1)
    ne = _int_arg(n_expert, "n_expert", 0)
    opts = _PackOpts(ctypes.sizeof(_PackOpts), _isa_id(isa), _int_arg(threads, "threads", 0, 1024), 0)
    size, align = _size(), _size()
    if ne:
        st = _pack_experts_size(tid, ne, n, k, ctypes.byref(opts), ctypes.byref(size), ctypes.byref(align))
    else:
        st = _pack_size(tid, n, k, ctypes.byref(opts), ctypes.byref(size), ctypes.byref(align))
    _check(st, f"pack_size {_type_name(tid).decode()} n={n} k={k} n_expert={ne}")
    return size.value, align.value


def pack_into(buffer, type, n, k, data, isa="auto", threads=1, n_expert=0):
    """Packs like Weights(type, n, k, data, isa, threads), but writes the
    image (header, packed bytes, checksum) into the caller's buffer, which the
    returned Weights then uses in place (info["memory"] == "caller").

    buffer: any writable, contiguous buffer (a numpy array, bytearray, a
    writable mmap, shared memory) at least pack_size(...)[0] bytes long,
    starting at a 64-byte aligned address (aligned_buffer makes one), else
    AmxError AMX_ERR_BUFFER and nothing written. The Weights holds a reference
    to it until closed; it must not change meanwhile. The image written is what
    save / to_bytes give, and open_memory can use it again later. n_expert
    >= 1 packs expert weights as pack_experts does."""
    threads = _int_arg(threads, "threads", 0, 1024)
    ne = _int_arg(n_expert, "n_expert", 0)
    tid, n, k, blocks, opts = _pack_args(type, n, k, _experts_flat(data, ne) if ne else data, isa, threads,
                                         max(ne, 1))
    dst = _byte_view(buffer, "buffer", writable=True)
    h = _vp()
    src = blocks.ctypes.data if blocks.size else None
    if ne:
        st = _pack_experts_into(tid, ne, n, k, src, blocks.size, ctypes.byref(opts), dst.ctypes.data, dst.size,
                                ctypes.byref(h))
    else:
        st = _pack_into(tid, n, k, src, blocks.size, ctypes.byref(opts), dst.ctypes.data, dst.size, ctypes.byref(h))
    what = f"pack_into {_type_name(tid).decode()} n={n} k={k}"
    if st == _BUFFER:
        need, align = pack_size(type, n, k, isa, threads, ne)
        raise AmxError(st, f"{what}: the buffer must hold {need} bytes from a {align}-byte aligned address; it "
                           f"holds {dst.size} from an address {dst.ctypes.data % align} bytes past one "
                           f"(amxq.aligned_buffer({need}) makes one)")
    _check(st, what)
    return Weights._adopt(h.value, threads, (buffer, dst))


def open(path, repack=False, verify=True, threads=1):
    """Weights from an image file written by Weights.save: the library maps
    the file read-only and uses its pages in place, no copy (info["memory"] ==
    "mapped"; processes opening the same file share it in the page cache).

    repack: an image packed for a kernel family this machine cannot run is
    unpacked and packed again for the best one here (into library memory);
    without it such an image raises AMX_ERR_ISA_UNAVAILABLE. verify=False
    skips the checksum, which reads every byte (for images already checked).
    threads: for checking (and repacking), and each gemm's default.
    A damaged or foreign file raises AmxError: AMX_ERR_BAD_FORMAT, _VERSION,
    _TRUNCATED, _SIZE_MISMATCH (longer than its image), _CHECKSUM, or AMX_ERR_IO
    with .errno. The file must not be truncated or rewritten in place while
    the weights live (save replaces files by renaming, which is safe)."""
    p = _path_arg(path)
    opts = _open_opts(repack, verify, threads)
    h = _vp()
    ctypes.set_errno(0)
    _check(_open(p, ctypes.byref(opts), ctypes.byref(h)), f"open {os.fsdecode(p)!r}")
    return Weights._adopt(h.value, opts.n_threads)


def open_memory(buffer, repack=False, verify=True, threads=1, copy=None):
    """Weights from an image held in a Python object: bytes, bytearray, a
    numpy array, an mmap, anything with the buffer protocol, holding exactly
    one image (as to_bytes, save or pack_into wrote it). repack, verify,
    threads: as for open.

    The image must start at a 64-byte aligned address, which bytes and
    bytearray objects seldom do (CPython aligns their data to 16 bytes at most):
      copy=None   (default) use the buffer in place when it is aligned, else
                  copy it once into an aligned numpy array that the weights own;
      copy=False  never copy: a misaligned buffer raises AmxError AMX_ERR_BUFFER
                  (aligned_buffer gives aligned memory to read an image into;
                  an mmap of a file is page-aligned);
      copy=True   always copy (the buffer may then change or go at once).
    Used in place (info["memory"] == "caller", Weights.buffer is the object),
    the buffer is referenced by the Weights until it is closed, so it stays
    alive even when the caller drops it (a bytearray cannot be resized, nor an
    mmap closed, meanwhile); it must not change while the weights live."""
    if copy not in (None, True, False):
        raise AmxError(_INVALID_ARG, f"copy must be None, True or False, not {copy!r}")
    view = _byte_view(buffer, "buffer")
    opts = _open_opts(repack, verify, threads)
    if view.ctypes.data % _IMAGE_ALIGN or copy:
        if copy is False:
            raise AmxError(_BUFFER, f"open_memory: the image must start at a {_IMAGE_ALIGN}-byte aligned address; "
                                    f"this buffer starts {view.ctypes.data % _IMAGE_ALIGN} bytes past one (pass "
                                    f"copy=None to copy it, or read it into amxq.aligned_buffer)")
        aligned = aligned_buffer(view.size)
        aligned[:] = view
        buffer = view = aligned
    h = _vp()
    _check(_open_memory(view.ctypes.data, view.size, ctypes.byref(opts), ctypes.byref(h)),
           f"open_memory ({view.size} bytes)")
    return Weights._adopt(h.value, opts.n_threads, (buffer, view))


def _numa_nodes():
    nodes = glob.glob("/sys/devices/system/node/node[0-9]*")
    return max(len(nodes), 1)


def cpu_info():
    """What this machine can run: {"best_isa", "available": [...], "why": {isa: reason},
    "amx_off_reason" (None when AMX is usable), "numa_nodes", "version", "report"}."""
    why = {}
    available = []
    for name, isa in ISAS.items():
        if name == "auto":
            continue
        reason = _str()
        if _supports(isa, ctypes.byref(reason)):
            available.append(name)
        why[name] = reason.value.decode()
    return {"best_isa": _isa_name(_best_isa()).decode(), "available": available, "why": why,
            "amx_off_reason": None if "amx" in available else why["amx"], "numa_nodes": _numa_nodes(),
            "version": version(), "report": _report().decode()}
