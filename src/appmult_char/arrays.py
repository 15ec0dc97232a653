"""Arrays on the host or on a GPU: which array module computes on them, copies between
host and device, and results returned in the kind of array the caller passed.

Device arrays are any object with ``__cuda_array_interface__``: CuPy arrays, PyTorch CUDA
tensors, Numba device arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._errors import AppMultError

__all__ = ["Array", "is_device_array", "array_module", "to_host", "to_device", "like", "cuda_module"]


def cuda_module(instead: str):
    """`numba.cuda`, with a one-line error when no GPU can be used (`instead`: the back
    end to name in it)."""
    try:
        from numba import cuda
    except ImportError:
        raise AppMultError("the CUDA back end needs numba-cuda: pip install 'appmult-char[cuda]'") from None
    try:
        available = cuda.is_available()
        reason = ""
    except Exception as exc:  # a driver that fails to initialise (CudaSupportError and the like)
        available, reason = False, f": {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
    if not available:
        raise AppMultError(f"no CUDA device was found{reason} (use backend '{instead}')")
    return cuda

#: A NumPy array or a device array (CuPy, PyTorch CUDA tensor, Numba device array).
Array = Any


def is_device_array(x: Any) -> bool:
    return hasattr(x, "__cuda_array_interface__")


def array_module(x: Any):
    """NumPy for host arrays, CuPy for device arrays (the module that computes on `x`)."""
    if not is_device_array(x):
        return np
    try:
        import cupy
    except ImportError:
        raise AppMultError("arithmetic on GPU arrays here needs CuPy (install the build that matches your CUDA, "
                           "e.g. cupy-cuda13x)") from None
    return cupy


def to_host(x: Any) -> np.ndarray:
    """A NumPy array of `x` (copied from the GPU when `x` lives there)."""
    if hasattr(x, "copy_to_host"):
        return x.copy_to_host()
    if hasattr(x, "get"):
        return x.get()
    if type(x).__module__.split(".")[0] == "torch":
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_device(x: Any, dtype=None):
    """A Numba device array of `x`: a zero-copy view of a device array, else a copy."""
    from numba import cuda

    if is_device_array(x):
        arr = cuda.as_cuda_array(x)
        if dtype is not None and arr.dtype != dtype:
            raise AppMultError(f"device array of {arr.dtype} where {np.dtype(dtype)} is needed")
        return arr
    return cuda.to_device(np.ascontiguousarray(np.asarray(x, dtype=dtype)))


def like(result: Any, template: Any):
    """`result` (a Numba device array or a CuPy array) as the kind of array `template`
    is: NumPy, CuPy, a PyTorch tensor on its device, or a Numba device array."""
    if type(result) is type(template) and getattr(result, "is_cuda", False):  # a torch result for torch operands
        if result.device == template.device:
            return result
    if not is_device_array(template):
        return to_host(result)
    module = type(template).__module__.split(".")[0]
    if module == "cupy":
        import cupy

        return cupy.asarray(result)
    if module == "torch":
        import torch

        return torch.as_tensor(result, device=template.device)
    return result
