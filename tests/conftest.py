"""Shared fixtures: the conformance data (required, never skipped) and small helpers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Without a GPU, the CUDA kernels run in Numba's CUDA simulator (set before numba.cuda loads).
if "NUMBA_ENABLE_CUDASIM" not in os.environ and not (shutil.which("nvidia-smi") or os.path.exists("/dev/nvidia0")):
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"

ROOT = Path(__file__).resolve().parent.parent


def _refdata() -> Path:
    env = os.environ.get("APPMULT_CHAR_REFDATA")
    path = Path(env) if env else ROOT.parent / "shared" / "refdata"
    if not (path / "appmult").is_dir():
        raise RuntimeError(
            f"conformance data not found at {path} (set APPMULT_CHAR_REFDATA to the refdata folder)"
        )
    return path / "appmult"


REFDATA = _refdata()
CIRCUITS = sorted(p.name.removesuffix("_sop.blif") for p in REFDATA.glob("*_sop.blif"))
if len(CIRCUITS) < 10:
    raise RuntimeError(f"expected the 10 reference circuits in {REFDATA}, found {len(CIRCUITS)}")


@pytest.fixture(params=CIRCUITS)
def circuit(request) -> str:
    """Name of one reference circuit (``NAME`` of ``NAME_sop.blif``)."""
    return request.param
