"""amxq from Python: numpy in, numpy out, through ctypes (no compiled code).

    import numpy as np, amxq
    w = amxq.Weights("Q4_K", n, k, blocks)      # GGUF blocks: bytes or a uint8 array
    y = w.gemm(x)                               # x: float32 (m, k) -> y: float32 (m, n)
    print(w.info, amxq.cpu_info())

The shared library is found through the AMXQ_LIBRARY environment variable (a
path to libamxq.so), then in a build directory of this source tree (build*/),
then on the system's library path.
"""
import ctypes
import ctypes.util
import glob
import operator
import os
import threading

import numpy as np

__all__ = ["AmxError", "Weights", "cpu_info", "dequantize", "TYPES", "ISAS", "library_path", "version"]

ISAS = {"auto": 0, "scalar": 1, "avx512_vnni": 2, "amx": 3}
_STATUS = ["AMX_OK", "AMX_ERR_INVALID_ARG", "AMX_ERR_UNSUPPORTED_TYPE", "AMX_ERR_BAD_SHAPE",
           "AMX_ERR_SIZE_MISMATCH", "AMX_ERR_NO_MEMORY", "AMX_ERR_ISA_UNAVAILABLE", "AMX_ERR_WORKSPACE",
           "AMX_ERR_BUFFER", "AMX_ERR_BAD_FORMAT", "AMX_ERR_VERSION", "AMX_ERR_TRUNCATED", "AMX_ERR_CHECKSUM",
           "AMX_ERR_IO"]
_INVALID_ARG = 1
_UNSUPPORTED_TYPE = 2


class AmxError(Exception):
    """A failed amxq call: .status (the amx_status number), .name (e.g.
    "AMX_ERR_BAD_SHAPE") and .message (what went wrong)."""

    def __init__(self, status, message):
        self.status = int(status)
        self.name = _STATUS[self.status] if 0 <= self.status < len(_STATUS) else f"AMX_STATUS_{self.status}"
        self.message = message
        super().__init__(f"{self.name}: {message}")


# ---- the library ----------------------------------------------------------------

def _candidates():
    env = os.environ.get("AMXQ_LIBRARY")
    if env:
        return [env], True
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # a build directory whose library was not built (only some targets
    # compiled) holds a dangling libamxq.so link: skip it
    built = [p for p in glob.glob(os.path.join(root, "build*", "libamxq.so")) if os.path.exists(p)]
    built.sort(key=os.path.getmtime, reverse=True)
    system = ctypes.util.find_library("amxq")
    return built + [system or "libamxq.so.0"], False


def _load():
    paths, from_env = _candidates()
    errors = []
    for p in paths:
        try:
            return ctypes.CDLL(p), p
        except OSError as e:
            errors.append(f"{p}: {e}")
    where = "AMXQ_LIBRARY" if from_env else "build*/ in the source tree and the system library path"
    raise ImportError(f"amxq: cannot load libamxq.so (looked in {where}): " + "; ".join(errors))


_lib, library_path = _load()


class _PackOpts(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("isa", ctypes.c_int), ("n_threads", ctypes.c_int32),
                ("flags", ctypes.c_uint32)]


class _GemmOpts(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("n_threads", ctypes.c_int32), ("flags", ctypes.c_uint32),
                ("amx_min_m", ctypes.c_int32)]


class _WeightsInfo(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("type", ctypes.c_int), ("n", ctypes.c_int64), ("k", ctypes.c_int64),
                ("isa", ctypes.c_int), ("amx_min_m", ctypes.c_int32), ("packed_bytes", ctypes.c_uint64),
                ("gguf_bytes", ctypes.c_uint64), ("kernel", ctypes.c_char_p), ("layout", ctypes.c_char_p)]


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = argtypes
    return f


_c_int, _i64, _vp, _str = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p, ctypes.c_char_p
_pack = _fn("amx_pack_weights", _c_int, _c_int, _i64, _i64, _vp, ctypes.c_size_t, ctypes.POINTER(_PackOpts),
            ctypes.POINTER(_vp))
_gemm = _fn("amx_gemm_q", _c_int, _vp, _i64, _vp, _i64, _vp, _i64, ctypes.POINTER(_GemmOpts))
_free = _fn("amx_weights_free", None, _vp)
_query = _fn("amx_weights_query", _c_int, _vp, ctypes.POINTER(_WeightsInfo))
_kernel = _fn("amx_weights_kernel", _str, _vp, _i64)
_status_str = _fn("amx_status_str", _str, _c_int)
_dequantize = _fn("amx_dequantize", _c_int, _c_int, _i64, _vp, ctypes.c_size_t, _vp)
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
    if isinstance(isa, str) and isa in ISAS:
        return ISAS[isa]
    raise AmxError(_INVALID_ARG, f"isa must be one of {', '.join(ISAS)}, not {isa!r}")


def _int_arg(v, what, lo, hi=2**63 - 1):
    try:
        i = operator.index(v)
    except TypeError:
        raise AmxError(_INVALID_ARG, f"{what} must be an integer, not {type(v).__name__}") from None
    if not lo <= i <= hi:
        raise AmxError(_INVALID_ARG, f"{what} = {i} is out of range [{lo}, {hi}]")
    return i


def _block_buffer(data):
    """bytes-like or a uint8 array -> a C-contiguous uint8 array (no copy when possible)."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise AmxError(_INVALID_ARG, f"data must be bytes or a uint8 array of GGUF blocks, not a {data.dtype} array")
        return np.ascontiguousarray(data).reshape(-1)
    try:
        return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    except TypeError:
        raise AmxError(_INVALID_ARG, f"data must be bytes or a uint8 array of GGUF blocks, not {type(data).__name__}") from None


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


# ---- handles ----------------------------------------------------------------------------

class Weights:
    """A packed weight matrix: n rows of k elements of GGUF blocks.

    Weights(type, n, k, data, isa="auto", threads=1)
      type     "Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS", or the ggml type number
      data     bytes (or any buffer) or a uint8 array: n * k / block * block_bytes bytes,
               as a GGUF file holds the tensor; copied, so it may be released afterwards
      isa      "auto", "scalar", "avx512_vnni" or "amx"
      threads  threads for packing and, by default, for each gemm

    Safe to share between Python threads; close() (or leaving a with block)
    frees the packed memory once, waiting for multiplies still running.
    """

    def __init__(self, type, n, k, data, isa="auto", threads=1):
        self._handle = None
        self._cv = threading.Condition()
        self._users = 0
        tid = _type_id(type)
        n = _int_arg(n, "n", 1)
        k = _int_arg(k, "k", 1)
        self.threads = _int_arg(threads, "threads", 0, 1024)
        buf = _block_buffer(data)
        opts = _PackOpts(ctypes.sizeof(_PackOpts), _isa_id(isa), self.threads, 0)
        h = _vp()
        _check(_pack(tid, n, k, buf.ctypes.data if buf.size else None, buf.size, ctypes.byref(opts), ctypes.byref(h)),
               f"pack {_type_name(tid).decode()} n={n} k={k} ({buf.size} bytes)")
        self._handle = h.value
        self.n, self.k = n, k

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
        """Frees the packed weights (once; later calls do nothing)."""
        cv = getattr(self, "_cv", None)
        if cv is None:
            return
        with cv:
            while self._users:
                cv.wait()
            h, self._handle = self._handle, None
        if h is not None:
            _free(h)

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

    def gemm(self, x, threads=None, amx_min_m=0):
        """y = x @ W.T: x float32 (m, k) (or (k,)) -> float32 (m, n) (or (n,)).

        Other real dtypes are converted to float32; anything else raises
        AmxError. threads defaults to the handle's; amx_min_m overrides the
        AMX/VNNI crossover on AMX handles (0 = the handle's default)."""
        threads = self.threads if threads is None else _int_arg(threads, "threads", 0, 1024)
        amx_min_m = _int_arg(amx_min_m, "amx_min_m", 0, 2**31 - 1)
        h = self._borrow()
        try:
            a, ldx, vector = _activations(x, self.k)
            m = a.shape[0]
            y = np.empty((m, self.n), dtype=np.float32)
            if m:
                opts = _GemmOpts(ctypes.sizeof(_GemmOpts), threads, 0, amx_min_m)
                _check(_gemm(h, m, a.ctypes.data, ldx, y.ctypes.data, self.n, ctypes.byref(opts)),
                       f"gemm m={m} k={self.k} n={self.n}")
        finally:
            self._give_back()
        return y[0] if vector else y

    def kernel(self, m=1):
        """Name of the kernel a multiply of m rows runs."""
        h = self._borrow()
        try:
            return _kernel(h, _int_arg(m, "m", 0)).decode()
        finally:
            self._give_back()

    @property
    def info(self):
        """dict: type, n, k, isa, kernel (for m = 1), layout, packed_bytes, gguf_bytes, amx_min_m."""
        h = self._borrow()
        try:
            i = _WeightsInfo(size=ctypes.sizeof(_WeightsInfo))
            _check(_query(h, ctypes.byref(i)), "query")
            return {"type": _type_name(i.type).decode(), "n": i.n, "k": i.k, "isa": _isa_name(i.isa).decode(),
                    "kernel": _kernel(h, 1).decode(), "layout": i.layout.decode(),
                    "packed_bytes": i.packed_bytes, "gguf_bytes": i.gguf_bytes, "amx_min_m": i.amx_min_m}
        finally:
            self._give_back()

    def __repr__(self):
        if self.closed:
            return "<amxq.Weights (freed)>"
        i = self.info
        return f"<amxq.Weights {i['type']} n={i['n']} k={i['k']} {i['isa']} {i['kernel']}>"


# ---- functions ---------------------------------------------------------------------------

def dequantize(type, data):
    """GGUF blocks (bytes or uint8 array) -> float32 values, as ggml decodes them."""
    tid = _type_id(type)
    buf = _block_buffer(data)
    bs, bb = _block_size(tid), _block_bytes(tid)
    if buf.size == 0 or buf.size % bb:
        raise AmxError(4, f"{buf.size} bytes are not a whole number of {_type_name(tid).decode()} blocks ({bb} bytes)")
    out = np.empty(buf.size // bb * bs, dtype=np.float32)
    _check(_dequantize(tid, out.size, buf.ctypes.data, buf.size, out.ctypes.data), "dequantize")
    return out


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
