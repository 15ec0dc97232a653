"""Launching the generated CUDA kernels: where their arrays come from, which stream they
run on, and a launch that costs a few microseconds of host time.

A `Workspace` is made per GEMM call from its first operand. For PyTorch CUDA tensors,
outputs and scratch arrays come from PyTorch's caching allocator (no ``cudaMalloc`` or
synchronising ``cudaFree`` per call) and kernels run on PyTorch's current stream of that
device; for other device arrays (CuPy, Numba) and NumPy operands, Numba device arrays
on the default stream.

`launch` compiles a kernel once per argument signature and, on a GPU, starts it with one
``cuLaunchKernel`` on arguments packed as Numba lays them out (an array is meminfo,
parent, size, itemsize, data pointer, shape, strides in bytes; an ``int64`` or
``float32`` scalar is itself). Numba's own launch path converts every argument through
``__cuda_array_interface__`` and pointer-attribute queries, hundreds of microseconds per
GEMM. The packed arguments are kept per (kernel, launch shape, argument shapes, strides,
dtypes and scalars): a repeated launch only writes its arrays' data pointers into them.
Under Numba's CUDA simulator (CI) kernels are called through Numba instead.
"""

from __future__ import annotations

import math
import struct
import threading
import weakref
from typing import Any

import numpy as np

__all__ = ["Workspace", "launch", "lasting", "set_dynamic_shared", "multiprocessors", "simulated", "numpy_dtype"]

#: Shared memory one block may use on the GPUs the kernels are tuned for (Hopper: 227 KB).
SHARED_PER_SM = 227 * 1024
#: 32-bit registers per multiprocessor (every CUDA GPU since Kepler).
REGISTERS_PER_SM = 65536


def simulated() -> bool:
    import numba

    return bool(numba.config.ENABLE_CUDASIM)


_SMS: list[int] = []


def multiprocessors() -> int:
    """Streaming multiprocessors of the current device (2 under the simulator)."""
    if not _SMS:
        from numba import cuda

        _SMS.append(2 if simulated() else int(cuda.get_current_device().MULTIPROCESSOR_COUNT))
    return _SMS[0]


_TORCH_TYPES: set = set()


def _is_torch(x: Any) -> bool:
    kind = type(x)
    if kind in _TORCH_TYPES:
        return True
    if kind.__module__.split(".")[0] == "torch":
        _TORCH_TYPES.add(kind)
        return True
    return False


def _current_stream(torch, device) -> int:
    """The handle of PyTorch's current stream on `device`: through the raw-stream query
    where this PyTorch has it (what Triton's launchers call, a fraction of the cost of
    building a `torch.cuda.Stream`), else the public API."""
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    if raw is not None:
        return raw(device.index if device.index is not None else torch.cuda.current_device())
    return torch.cuda.current_stream(device).cuda_stream


class Workspace:
    """Allocation and stream for the kernels of one GEMM call on `template`'s kind of array."""

    def __init__(self, template: Any):
        self.torch = _is_torch(template) and template.is_cuda
        if self.torch:
            import torch

            self._torch = torch
            self.device = template.device
            self.stream = _current_stream(torch, self.device)
        else:
            self.device = None
            self.stream = 0

    def empty(self, shape: tuple[int, ...], dtype, zeroed: bool = False) -> Any:
        """A device array of `shape` (zeros when `zeroed`: for PyTorch one asynchronous
        driver memset on the stream, a fraction of the host time of ``torch.zeros``)."""
        if self.torch:
            out = self._torch.empty(shape, dtype=_torch_dtype_of(dtype), device=self.device)
            nbytes = out.numel() * out.element_size()
            if zeroed and nbytes:
                _driver_call(self, "cuMemsetD8Async", out.data_ptr(), 0, nbytes, self.stream)
            return out
        dtype = np.dtype(dtype)
        from numba import cuda

        return cuda.to_device(np.zeros(shape, dtype=dtype)) if zeroed else cuda.device_array(shape, dtype=dtype)

    def operand(self, x: Any, dtype=None) -> Any:
        """`x` as an array the kernels take: a torch tensor as it is (made contiguous), any
        other device array as a Numba view, a NumPy array copied to the device."""
        if self.torch:
            if not _is_torch(x):  # a NumPy or other device array beside torch operands
                x = self._torch.as_tensor(x, device=self.device)
            if dtype is not None and _torch_dtype_of(dtype) != x.dtype:
                from .._errors import AppMultError

                raise AppMultError(f"device array of {x.dtype} where {np.dtype(dtype)} is needed")
            return x.contiguous()
        from ..arrays import to_device

        return to_device(x, dtype)


def _torch_dtype(name: str):
    def get():
        import torch

        return getattr(torch, name)

    return get


_TORCH_DTYPES = {name: _torch_dtype(name) for name in ("int8", "uint8", "int16", "uint16", "int32", "int64",
                                                        "float32", "float64")}
_NUMPY_OF_TORCH: dict = {}
_TORCH_OF: dict = {}  # NumPy dtype or scalar type -> torch dtype


def _torch_dtype_of(dtype) -> Any:
    """The torch dtype of a NumPy dtype (or scalar type such as ``np.float32``)."""
    found = _TORCH_OF.get(dtype)
    if found is None:
        found = _TORCH_OF[dtype] = _TORCH_DTYPES[np.dtype(dtype).name]()
    return found


def numpy_dtype(x: Any) -> np.dtype:
    """The NumPy dtype of a torch tensor or of any array with a NumPy dtype."""
    if not _is_torch(x):
        return np.dtype(x.dtype)
    if not _NUMPY_OF_TORCH:
        import torch

        _NUMPY_OF_TORCH.update({getattr(torch, n): np.dtype(n) for n in _TORCH_DTYPES})
    return _NUMPY_OF_TORCH[x.dtype]


def _describe(x: Any) -> tuple[int, tuple, tuple, np.dtype]:
    """(data pointer, shape, strides in bytes, dtype) of a device array."""
    if _is_torch(x):
        dtype = numpy_dtype(x)
        size = dtype.itemsize
        return x.data_ptr(), tuple(x.shape), tuple(s * size for s in x.stride()), dtype
    face = x.__cuda_array_interface__
    dtype = np.dtype(face["typestr"])
    shape = tuple(face["shape"])
    strides = face.get("strides")
    if strides is None:
        strides, step = [], dtype.itemsize
        for n in reversed(shape):
            strides.append(step)
            step *= n
        strides = tuple(reversed(strides))
    return face["data"][0], shape, tuple(strides), dtype


_LASTING: dict = {}  # id of a device array kept for many launches -> its description


def lasting(x: Any) -> Any:
    """`x`, a Numba or CuPy device array that many launches will take (a LUT, a gradient
    table), with its description kept until it is freed, so that a launch does not query
    its ``__cuda_array_interface__`` (microseconds each time) again."""
    if not simulated() and id(x) not in _LASTING:
        _LASTING[id(x)] = _describe(x)
        weakref.finalize(x, _LASTING.pop, id(x), None)
    return x


def _contiguous(shape: tuple, strides: tuple, itemsize: int) -> bool:
    step = itemsize
    for n, s in zip(reversed(shape), reversed(strides)):
        if n > 1 and s != step:
            return False
        step *= n
    return True


_TYPES: dict = {}


def _numba_type(key):
    if key not in _TYPES:
        from numba import types

        if key[0] == "array":
            _, name, ndim, layout = key
            _TYPES[key] = types.Array(getattr(types, name), ndim, layout)
        else:
            _TYPES[key] = getattr(types, key[0])
    return _TYPES[key]


def _scalar_slot(v: Any) -> tuple[str, int]:
    if isinstance(v, np.float32):
        return "float32", struct.unpack("<I", struct.pack("<f", float(v)))[0]
    if isinstance(v, (np.int64, int)):
        return "int64", int(v)
    raise TypeError(f"kernel arguments are device arrays, np.int64 or np.float32, not {type(v).__name__}")


_NAMES: dict = {}  # dtype -> its name (numpy's dtype.name property is slow)
_FUNCTIONS: dict = {}  # (kernel id, signature key) -> (compiled kernel, CUfunction handle)
_OPTED_IN: dict = {}  # CUfunction handle -> dynamic shared bytes allowed
_OFFSETS = np.arange(0, 8 * 128, 8, dtype=np.uint64)  # one pointer per 8-byte argument slot


_DRIVER: list = []


def _driver():
    if not _DRIVER:
        from cuda.bindings import driver

        _DRIVER.append(driver)
    return _DRIVER[0]


def _function(kernel, key: tuple):
    entry = _FUNCTIONS.get((id(kernel), key))
    if entry is None:
        compiled = kernel.compile(tuple(_numba_type(k) for k in key))
        cufunc = compiled._codelibrary.get_cufunc()
        driver = _driver()
        handle = cufunc.handle
        if isinstance(handle, driver.CUkernel):  # library-loaded kernel: its function in this context
            err, handle = driver.cuKernelGetFunction(handle)
            if int(err) != 0:
                raise RuntimeError(f"cuKernelGetFunction failed: {err}")
        elif not isinstance(handle, driver.CUfunction):
            handle = driver.CUfunction(int(getattr(handle, "value", handle)))
        entry = _FUNCTIONS[(id(kernel), key)] = (kernel, handle)  # the kernel kept alive with its id
    return entry[1]


def set_dynamic_shared(handle, nbytes: int) -> None:
    """Let a compiled kernel use `nbytes` of dynamic shared memory.

    Beyond 48 KB of shared memory in all, the CUDA driver needs an explicit opt-in per
    function (``CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES``); Numba has no public
    call for it, so this goes through the compiled function's driver handle.
    """
    if nbytes == 0 or _OPTED_IN.get(int(handle), 0) >= nbytes:
        return
    driver = _driver()
    attribute = driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    err, = driver.cuFuncSetAttribute(handle, attribute, nbytes)
    if int(err) != 0:
        raise RuntimeError(f"cuFuncSetAttribute({nbytes} bytes) failed: {err}")
    _OPTED_IN[int(handle)] = nbytes


class _Prepared:
    """One kernel's packed launch arguments for fixed shapes, strides, dtypes and
    scalars; only the arrays' data pointers change from call to call (the driver copies
    the arguments at launch, so one buffer serves every call of one thread)."""

    __slots__ = ("handle", "values", "params", "address", "positions")

    def __init__(self, kernel, shared: int, described: list):
        key, slots, positions = [], [], []
        for v in described:
            if isinstance(v, tuple):
                ptr, shape, strides, dtype = v
                layout = "C" if _contiguous(shape, strides, dtype.itemsize) else "A"
                key.append(("array", _NAMES.get(dtype) or _NAMES.setdefault(dtype, dtype.name), len(shape), layout))
                positions.append(len(slots) + 4)
                slots += [0, 0, math.prod(shape), dtype.itemsize, ptr, *shape, *strides]
            else:
                kind, slot = _scalar_slot(v)
                key.append((kind,))
                slots.append(slot)
        if len(slots) > len(_OFFSETS):
            raise ValueError(f"{len(slots)} kernel argument slots; at most {len(_OFFSETS)}")
        self.handle = _function(kernel, tuple(key))
        set_dynamic_shared(self.handle, shared)
        self.values = np.array([v & 0xFFFFFFFFFFFFFFFF for v in slots], dtype=np.uint64)
        self.params = self.values.ctypes.data + _OFFSETS[:len(slots)]
        self.address = self.params.ctypes.data
        self.positions = positions


_PREPARED: dict = {}
#: Launch signatures kept; a training run has a few hundred (its layers' shapes).
MAX_PREPARED = 4096


def launch(kernel, grid: tuple[int, int, int], block: tuple[int, int], shared: int, workspace: Workspace,
           *args: Any) -> None:
    """Run `kernel` (a ``numba.cuda.jit`` function) on `args` — device arrays of
    `workspace`'s kind or Numba's, and ``np.int64`` / ``np.float32`` scalars — with
    `shared` bytes of dynamic shared memory, on the workspace's stream."""
    if simulated():
        kernel[grid, block, 0, shared](*args)
        return
    key, pointers = [threading.get_ident(), id(kernel), grid, block, shared], []  # buffers per thread
    for v in args:
        if isinstance(v, (np.generic, int)):
            key.append(v)
        elif _is_torch(v):
            key.append((v.dtype, v.shape, v.stride()))
            pointers.append(v.data_ptr())
        else:
            d = _LASTING.get(id(v)) or _describe(v)
            key.append(d[1:])
            pointers.append(d[0])
    key = tuple(key)
    prepared = _PREPARED.get(key)
    if prepared is None:
        if len(_PREPARED) >= MAX_PREPARED:
            _PREPARED.clear()
        described = [v if isinstance(v, (np.generic, int)) else _describe(v) for v in args]
        prepared = _PREPARED[key] = _Prepared(kernel, shared, described)
    values = prepared.values
    for position, ptr in zip(prepared.positions, pointers):
        values[position] = ptr
    _driver_call(workspace, "cuLaunchKernel", prepared.handle, *grid, *block, 1, shared, workspace.stream,
                 prepared.address, 0)


def _driver_call(workspace: Workspace, name: str, *args: Any) -> None:
    """The driver function `name` on `args`; where the calling thread has no CUDA context
    bound (PyTorch's autograd worker may have none), the device's is bound and the call
    made again."""
    driver = _driver()
    function = getattr(driver, name)
    err, = function(*args)
    if err == driver.CUresult.CUDA_ERROR_INVALID_CONTEXT and _bind_context(workspace):
        err, = function(*args)
    if int(err) != 0:
        raise RuntimeError(f"{name} failed: {err}")


def _bind_context(workspace: Workspace) -> bool:
    """Make the primary context of the workspace's device current in this thread (a
    thread that PyTorch started, such as its autograd worker, may have none bound); False
    where that is not this module's to do (arrays other than PyTorch's)."""
    if not workspace.torch:
        return False
    driver = _driver()
    err, device = driver.cuDeviceGet(workspace.device.index or 0)
    if int(err) == 0:
        err, context = driver.cuDevicePrimaryCtxRetain(device)
    if int(err) == 0:
        err, = driver.cuCtxSetCurrent(context)
    return int(err) == 0
