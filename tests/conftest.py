"""Shared fixtures: the conformance data and small helpers.

Tests that need the conformance data carry the `refdata` mark. Without the data they are
skipped with the reason, so a fresh clone runs every other test; under ``CI=true`` or
``APPMULT_CHAR_REQUIRE_REFDATA=1`` its absence fails the run instead.
"""

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


def _required() -> bool:
    """CI (and anyone who sets APPMULT_CHAR_REQUIRE_REFDATA=1) must run the conformance tests."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("APPMULT_CHAR_REQUIRE_REFDATA") == "1"


def _refdata() -> tuple[Path, str | None]:
    """The conformance data folder, and why it cannot be used (None when it can)."""
    env = os.environ.get("APPMULT_CHAR_REFDATA")
    path = Path(env) if env else ROOT.parent / "shared" / "refdata"
    if not (path / "appmult").is_dir():
        return path / "appmult", f"conformance data not found at {path} (set APPMULT_CHAR_REFDATA to the refdata folder)"
    found = len(list((path / "appmult").glob("*_sop.blif")))
    if found < 10:
        return path / "appmult", f"expected the 10 reference circuits in {path / 'appmult'}, found {found}"
    return path / "appmult", None


REFDATA, MISSING = _refdata()
if MISSING and _required():
    raise RuntimeError(MISSING)
CIRCUITS = sorted(p.name.removesuffix("_sop.blif") for p in REFDATA.glob("*_sop.blif"))
#: Tests that read the conformance data; skipped with the reason when it is absent (never under CI).
refdata = pytest.mark.refdata


def pytest_collection_modifyitems(config, items):
    if MISSING:
        skip = pytest.mark.skip(reason=MISSING)
        for item in items:
            if item.get_closest_marker("refdata"):
                item.add_marker(skip)


@pytest.fixture(params=CIRCUITS)
def circuit(request) -> str:
    """Name of one reference circuit (``NAME`` of ``NAME_sop.blif``)."""
    return request.param
