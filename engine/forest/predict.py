"""Class probabilities of a stored forest for blocks of voxels: facies' own CPU walk, nvForest or treelite.

Engines:

- on the GPU, always ``nvforest``: :class:`nvforest.GPUForestInferenceClassifier` on CuPy arrays;
- on the CPU, ``auto`` (the default) is ``compiled``, else ``numpy``: facies' tree-at-a-time walk
  (:mod:`.cpu_predict`), a C kernel compiled once per machine and cached in the user's cache, or the same walk
  in NumPy where no C compiler is at hand. Measured faster than scikit-learn's ``predict_proba`` on the same
  threads, where nvForest's CPU classifier and treelite's predictor are 3 and 10 times slower (docs/forest.md);
- ``nvforest`` on the CPU: nvForest's CPU classifier (imports and runs without a GPU or driver), on request;
- ``treelite``: treelite's own General Tree Inference Library (``treelite.gtil``), on request.

All give scikit-learn's probabilities. nvForest and treelite get the trees from
:meth:`ForestModel.treelite_model` (the stored JSON trees, checked when the model was loaded, built into a
treelite model with treelite's model builder); the CPU walk reads the same checked arrays, laid out by
:mod:`.cpu_layout`. Never a pickle or a native checkpoint, and no library made from a store's contents.
scikit-learn is not needed to predict. :func:`classify_rows` turns attribute rows into codes, probabilities
and confidence, leaving code 0 (and probability 0) on dead traces and NaN voxels.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.forest.cpu_predict import CPU_ENGINES, CpuForest
from facies.engine.forest.model import ForestModel

#: Engine choices (``engine`` of :class:`ForestPredictor`, ``ForestOperator`` and ``predict_survey``).
ENGINES = ("auto", *CPU_ENGINES, "nvforest", "treelite")


def _nvforest():
    try:
        import nvforest  # noqa: PLC0415 - optional, heavy (CUDA runtime wheels)
    except Exception:  # noqa: BLE001 - ImportError, or a CUDA library that fails to load
        return None
    return nvforest


class ForestPredictor:
    """Predicts class probabilities of one model on one device.

    Parameters
    ----------
    model : ForestModel
    device : {"cpu", "gpu"}
        Where the rows live: NumPy arrays on the CPU, CuPy arrays on the GPU.
    engine : {"auto", "compiled", "numpy", "nvforest", "treelite"}
        A choice for the CPU (on the GPU only nvForest runs, whatever ``engine`` says). ``auto``: facies'
        compiled tree walk, else its NumPy walk when no C compiler builds the kernel (:mod:`.cpu_predict`).
        ``compiled`` raises when the kernel cannot be built; ``nvforest`` when nvForest does not import.
    threads : int, optional
        Threads of the CPU engines ``compiled`` and ``numpy`` (default: the CPUs this process may run on).
        nvForest and treelite use their own thread pools (OpenMP; ``OMP_NUM_THREADS``).
    """

    def __init__(self, model: ForestModel, device: str = "cpu", engine: str = "auto", *,
                 threads: int | None = None):
        if device not in ("cpu", "gpu"):
            raise FaciesError(f"device must be cpu or gpu here, not {device!r}")
        if engine not in ENGINES:
            raise FaciesError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.model = model
        self.device = device
        self._lock = threading.Lock()
        if device == "cpu" and engine in ("auto", *CPU_ENGINES):
            self._forest = CpuForest(model, engine=engine, threads=threads)
            self.engine = self._forest.engine
            return
        nvforest = _nvforest() if engine == "nvforest" or device == "gpu" else None
        if nvforest is None and (engine == "nvforest" or device == "gpu"):
            raise FaciesError("predicting on the GPU needs nvForest: pip install nvforest-cu13 (or nvforest-cu12)"
                              if device == "gpu" else "engine nvforest asked but nvForest does not import; "
                              "pip install nvforest-cu13 or use the compiled, numpy or treelite engine")
        self.engine = "nvforest" if nvforest is not None else "treelite"
        tl_model = model.treelite_model()  # one feature per attribute, by construction
        if nvforest is not None:  # self.engine == "nvforest"
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*newer Treelite version.*")
                self._forest = nvforest.load_from_treelite_model(tl_model, device=device)
            if device == "gpu":
                # The upload ran on this thread's per-thread default stream; the lanes that predict run on
                # their own non-blocking streams, which do not wait for it.
                _cupy().cuda.runtime.deviceSynchronize()
        else:
            self._forest = tl_model

    def predict_proba(self, x):
        """Probabilities (n, n_classes), float64, of the rows ``x`` (n, d) float32 (NumPy or CuPy)."""
        if x.shape[0] == 0:
            xp = np if self.device == "cpu" else _cupy()
            return xp.zeros((0, self.model.n_classes), dtype=np.float64)
        # One call at a time: every engine runs its own threads (or the whole GPU), and the
        # brick scheduler's lanes would otherwise share one model object from several threads.
        if self.engine in CPU_ENGINES:
            with self._lock:
                return self._forest.predict_proba(x)
        if self.engine == "nvforest":
            with self._lock:
                if self.device == "gpu":
                    return _predict_on_gpu(self._forest, x)
                return self._forest.predict_proba(x)
        import treelite.gtil  # noqa: PLC0415

        with self._lock:
            proba = treelite.gtil.predict(self._forest, np.ascontiguousarray(x, dtype=np.float32))
        return proba.reshape(x.shape[0], self.model.n_classes)

    def __repr__(self) -> str:
        return f"ForestPredictor({self.model.name!r}, device={self.device!r}, engine={self.engine!r})"


def _cupy():
    import cupy  # noqa: PLC0415 - GPU path only

    return cupy


def _predict_on_gpu(forest, x):
    """nvForest's probabilities of the CuPy rows ``x``, ordered against the caller's stream.

    The brick scheduler computes on a non-blocking CuPy stream per lane, while nvForest launches on
    pylibraft's default handle stream (the per-thread default stream), which does not wait for
    non-blocking streams, and converts its input with ``cupy.asarray`` on the *current* stream.
    So the rows are converted to float64 (the dtype of the thresholds nvForest loads from our
    forests) here, on the lane's stream, which is then synchronised before nvForest reads them;
    and nvForest's stream is synchronised before the lane's kernels read the probabilities.
    """
    cp = _cupy()
    rows = cp.ascontiguousarray(x, dtype=cp.float64)
    cp.cuda.get_current_stream().synchronize()
    proba = forest.predict_proba(rows)
    cp.cuda.Stream.ptds.synchronize()
    return proba


def classify_rows(x, live, predictor: ForestPredictor, xp=np) -> tuple:
    """Facies codes, probabilities and confidence of attribute rows.

    Parameters
    ----------
    x : array (n, d) float32
        Raw attribute values in the model's attribute order (normalised here when the model says so).
    live : array (n,) bool
        False on dead traces.
    predictor : ForestPredictor
    xp : module
        ``numpy`` or ``cupy``, owning ``x``.

    Returns
    -------
    codes : array (n,) uint8
        The model's facies code of the most probable class; 0 on dead traces and rows with NaN.
    proba : array (n, n_classes) float32
        Class probabilities; 0 where the code is 0.
    confidence : array (n,) float32
        Highest probability; 0 where the code is 0.
    """
    model = predictor.model
    n = x.shape[0]
    valid = live & xp.isfinite(x).all(axis=1)
    rows = x[valid]
    if model.normalisation is not None:
        rows = model.normalisation.apply(rows, xp)
    proba = predictor.predict_proba(xp.ascontiguousarray(rows, dtype=xp.float32))
    # argmax on the engine's float64 probabilities, so ties break as scikit-learn's predict does.
    best = xp.argmax(proba, axis=1)
    lookup = xp.asarray(np.asarray(model.codes, dtype=np.uint8))
    codes = xp.zeros(n, dtype=xp.uint8)
    codes[valid] = lookup[best]
    full = xp.zeros((n, model.n_classes), dtype=xp.float32)
    full[valid] = proba.astype(xp.float32)
    confidence = xp.zeros(n, dtype=xp.float32)
    confidence[valid] = proba.max(axis=1).astype(xp.float32) if proba.shape[0] else 0
    return codes, full, confidence
