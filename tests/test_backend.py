"""Backend choice: auto, cpu, gpu and the FACIES_DEVICE override, without a GPU."""

import numpy as np
import pytest

from facies.engine import FaciesError
from facies.engine import backend as B


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(B, "probe_cupy", lambda: (None, "CuPy does not import (test)"))
    monkeypatch.delenv(B.ENV_DEVICE, raising=False)


def test_auto_falls_back_to_numpy_with_reason(no_gpu, caplog):
    caplog.set_level("INFO", logger="facies")
    backend = B.get_backend("auto")
    assert backend.name == "cpu" and backend.xp is np
    assert "CuPy does not import" in backend.reason
    assert any("backend: NumPy" in r.message for r in caplog.records)


def test_gpu_request_without_gpu_is_a_clear_error(no_gpu):
    with pytest.raises(FaciesError, match="--device gpu was asked but CuPy does not import"):
        B.get_backend("gpu")


def test_env_forces_cpu(monkeypatch):
    monkeypatch.setenv(B.ENV_DEVICE, "cpu")
    monkeypatch.setattr(B, "probe_cupy", lambda: pytest.fail("must not probe CuPy when the CPU is forced"))
    assert B.get_backend("auto").reason.endswith("(FACIES_DEVICE=cpu)")
    with pytest.raises(FaciesError, match="FACIES_DEVICE=cpu forces the CPU"):
        B.get_backend("gpu")


def test_bad_device_names(monkeypatch):
    monkeypatch.delenv(B.ENV_DEVICE, raising=False)
    with pytest.raises(FaciesError, match="device must be one of"):
        B.get_backend("tpu")
    monkeypatch.setenv(B.ENV_DEVICE, "fast")
    with pytest.raises(FaciesError, match="FACIES_DEVICE='fast'"):
        B.get_backend("auto")


def test_cpu_backend_transfers_are_identity(no_gpu):
    backend = B.get_backend("cpu")
    a = np.arange(3.0)
    assert backend.to_device(a) is a and backend.to_host(a) is a
    assert B.array_module(a) is np


def test_engine_import_does_not_import_cupy():
    import subprocess
    import sys

    code = "import sys, facies.engine, facies.cli.app; assert 'cupy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
