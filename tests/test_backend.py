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


def test_engine_works_where_cupy_cannot_import():
    """A machine with no CUDA at all: `import cupy` fails, facies imports and picks NumPy."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['cupy'] = None\n"  # makes `import cupy` raise ImportError
            "import facies.engine, facies.cli.app\n"
            "from facies.engine.backend import get_backend\n"
            "assert get_backend('auto').name == 'cpu'")
    env = {k: v for k, v in __import__("os").environ.items() if k != "FACIES_DEVICE"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_no_module_imports_cupy_at_top_level():
    """CuPy is imported lazily, inside functions on the GPU path only (docs/design.md, "Backends")."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    top_level = re.compile(r"^(import cupy|from cupy)", re.MULTILINE)
    offenders = [str(p.relative_to(repo)) for folder in ("engine", "kernels", "cli")
                 for p in (repo / folder).rglob("*.py") if top_level.search(p.read_text())]
    assert offenders == []


def test_kernels_never_import_engine_or_cli():
    """docs/design.md's import direction is cli -> engine -> kernels: kernels stand alone (lazy imports included)."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    upward = re.compile(r"^\s*(from\s+facies\.(engine|cli)\b|import\s+facies\.(engine|cli)\b"
                        r"|from\s+facies\s+import\s+[^\n]*\b(engine|cli)\b)", re.MULTILINE)
    offenders = [str(p.relative_to(repo)) for p in (repo / "kernels").rglob("*.py") if upward.search(p.read_text())]
    assert offenders == []


def test_engine_never_imports_the_cli():
    """The import direction is cli -> engine -> kernels (docs/design.md): the engine works without the CLI."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    upward = re.compile(r"^\s*(from\s+facies\.cli\b|import\s+facies\.cli\b|from\s+facies\s+import\s+[^\n]*\bcli\b)",
                        re.MULTILINE)
    offenders = [str(p.relative_to(repo)) for p in (repo / "engine").rglob("*.py") if upward.search(p.read_text())]
    assert offenders == []
    assert upward.search("    from facies.cli.console import console\n")  # the pattern finds lazy imports too


def test_operators_never_import_a_runner_or_a_workflow():
    """engine/operators holds operators only: they know the operator interface, never who runs them.

    The filter workflows (engine/filtering.py) import the operators and the runners, not the other
    way round; and the two runners share engine/bricks/outputs.py rather than importing each other.
    """
    import re
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    imported = re.compile(r"^\s*(?:from|import)\s+(facies\.engine(?:\.\w+)*)", re.MULTILINE)
    allowed = ("facies.engine.bricks.operator", "facies.engine.bricks.plan", "facies.engine.errors",
               "facies.engine.operators")
    offenders = sorted({f"{p.relative_to(repo)}: {name}" for p in (repo / "engine" / "operators").rglob("*.py")
                        for name in imported.findall(p.read_text()) if not name.startswith(allowed)})
    assert offenders == []
    runners = {"run": "dask_runner", "dask_runner": "run"}
    for runner, other in runners.items():
        source = (repo / "engine" / "bricks" / f"{runner}.py").read_text()
        assert f"facies.engine.bricks.{other} import" not in source and f"bricks import {other}" not in source
    code = ("import sys\n"
            "import facies.engine.operators\n"
            "loaded = [m for m in ('facies.engine.bricks.run', 'facies.engine.bricks.dispatch', "
            "'facies.engine.bricks.dask_runner', 'facies.engine.bricks.outputs', 'facies.engine.filtering') "
            "if m in sys.modules]\n"
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_array_module_lives_in_kernels_and_backend_reexports_it():
    from facies.kernels import array_module as A

    assert B.array_module is A.array_module
    assert A.array_module(np.zeros(2)) is np and A.array_module(1.5) is np and A.array_module([1, 2]) is np
    fake_cupy_array = type("ndarray", (), {"__module__": "cupy._core.core"})()
    assert A.is_cupy(fake_cupy_array) and not A.is_cupy(np.zeros(2))


def test_every_algorithm_dispatches_on_the_array_module_of_its_input():
    """kuwahara and gmm pick ``_numpy`` or ``_cuda`` the same way, and both expose the same entry point."""
    from facies.kernels import gmm
    from facies.kernels.array_module import implementation

    fake_cupy_array = type("ndarray", (), {"__module__": "cupy._core.core"})()
    for package, entry in (("facies.kernels.kuwahara", "filter_volume"), ("facies.kernels.gmm", "Ops")):
        cpu, gpu = implementation(package, np.zeros(2)), implementation(package, fake_cupy_array)
        assert (cpu.__name__, gpu.__name__) == (f"{package}._numpy", f"{package}._cuda")
        assert callable(getattr(cpu, entry)) and callable(getattr(gpu, entry))
    assert gmm.ops_for(np.zeros(2)).name == "cpu" and gmm.ops_for(fake_cupy_array).name == "gpu"


def test_the_cpu_path_never_loads_a_cuda_implementation():
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from facies.kernels.kuwahara import kuwahara\n"
            "from facies.kernels.gmm import MODELS, PhiloxDraws, fit_mixtures, quadratic_features\n"
            "kuwahara(np.arange(64.0).reshape(4, 4, 4), 1)\n"
            "x = np.random.default_rng(0).normal(size=(40, 2))\n"
            "fit_mixtures(quadratic_features(x)[None], 2, MODELS[:2], PhiloxDraws(0, [3], 2, [0, 1], 40), sem_iter=2)\n"
            "assert not [m for m in sys.modules if m.endswith('._cuda') or m == 'cupy'], sys.modules.keys()")
    subprocess.run([sys.executable, "-c", code], check=True)
