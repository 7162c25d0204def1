"""The data of ``bench_survey.py``: a small synthetic survey the models are fitted on (the *tile*), and a large
survey made from it quickly.

Computing the synthetic survey's attributes costs far more than writing them (about 0.1 Mvox/s on two busy
cores), so the large survey is the tile's attribute volumes repeated, mirrored at every seam (no jumps for the
Kuwahara windows), each brick scaled by its own factor so that no two bricks hold the same bytes. The live-trace
mask is the tile's, repeated the same way, so dead traces stay zero in every volume. The models are fitted on
the tile, which has polygons, and copied into the large survey: it has the same attribute names and values of
the same distribution.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.plan import BrickPlan, region_slices
from facies.engine.filtering import filter_kuwahara
from facies.engine.forest.model_io import load_model, save_model
from facies.engine.forest.workflow import train_model
from facies.engine.gtm.fit import fit_model
from facies.engine.gtm.model_io import load_gtm, save_gtm
from facies.engine.store import Survey
from facies.engine.synth import ATTRIBUTE_NAMES, make_synthetic, polygons_path
from facies.engine.synth.layout import make_geometry
from facies.engine.training.extract import extract_training

#: The synthetic survey's attribute volumes the large survey repeats (amplitude is one too).
SOURCE_NAMES = ("amplitude", *ATTRIBUTE_NAMES)
GTM_NAME, FOREST_NAME, TRAINING = "gtm", "rf", "picks"


@dataclass(frozen=True)
class Models:
    """What the models are fitted on and how (recorded in the report).

    ``attributes`` are input volumes; the models use their filtered versions ``<name>_kuw``.
    """

    attributes: tuple[str, ...] = ("envelope", "similarity")
    radius: int = 2
    gtm_grid: int = 8
    gtm_basis: int = 3
    gtm_iterations: int = 50
    gtm_sample: int = 40_000
    trees: int = 20
    max_depth: int = 10

    @property
    def filtered(self) -> list[str]:
        return [f"{name}_kuw" for name in self.attributes]


def fit_on_tile(root: Path, shape: tuple[int, int, int], models: Models, *, seed: int = 0) -> Survey:
    """Make the tile (the synthetic survey of ``shape``), filter the model attributes, extract the polygons'
    training voxels, fit the GTM and train the forest on it; return the tile."""
    tile = make_synthetic(root / "tile.zarr", shape=shape, seed=seed, progress=False)
    options = RunOptions(device="cpu", progress=False)
    filter_kuwahara(tile, list(models.attributes), models.radius, options=options)
    extract_training(tile, polygons_path(tile.path), attributes=models.filtered, name=TRAINING, device="cpu")
    fit_model(tile, GTM_NAME, attributes=models.filtered, training=TRAINING, grid=models.gtm_grid,
              basis=models.gtm_basis, iterations=models.gtm_iterations, sample=models.gtm_sample, seed=seed,
              device="cpu", progress=False)
    train_model(tile, FOREST_NAME, training=TRAINING, attributes=models.filtered, trees=[models.trees],
                max_depth=models.max_depth, seed=seed, out_dir=root / "forest_report", figure=False)
    return tile


def copy_models(tile: Survey, survey: Survey) -> None:
    """Store the tile's GTM and forest in ``survey`` (through the model readers and writers, checked)."""
    save_gtm(survey, load_gtm(tile, GTM_NAME))
    save_model(survey, load_model(tile, FOREST_NAME))


def volume_names(models: Models, count: int) -> list[str]:
    """``count`` attribute names: the models' inputs first, then the synthetic survey's other attributes,
    then numbered repeats of them (``noise_a_2``...) for surveys with more attributes than it has."""
    rest = [n for n in SOURCE_NAMES if n not in models.attributes]
    names = list(models.attributes)
    k = 0
    while len(names) < count:
        base = rest[k % len(rest)]
        names.append(base if k < len(rest) else f"{base}_{k // len(rest) + 1}")
        k += 1
    return names[:count]


def source_of(name: str) -> str:
    """The synthetic attribute a volume repeats (``noise_a_2`` -> ``noise_a``)."""
    return name if name in SOURCE_NAMES else name.rsplit("_", 1)[0]


def bytes_on_disk(path: Path) -> int:
    """Bytes of the files under ``path`` (what the store takes on disk, metadata included)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def compression_ratio(tile: Survey, names: list[str]) -> float:
    """Bytes on disk per raw byte of the tile's volumes ``names`` (their sources): the large survey, made of the
    same values, compresses about as well."""
    raw = math.prod(tile.shape) * 4
    sources = sorted({source_of(n) for n in names})
    return sum(bytes_on_disk(tile.path / s) for s in sources) / (raw * len(sources))


def survey_shape(gigabytes: float, n_volumes: int, samples: int, ratio: float) -> tuple[int, int, int]:
    """A square survey of ``samples`` per trace whose ``n_volumes`` float32 volumes take ``gigabytes`` on disk
    at ``ratio`` bytes on disk per raw byte (rounded up to whole traces)."""
    traces = gigabytes * 1e9 / (n_volumes * samples * 4 * ratio)
    side = max(8, math.ceil(math.sqrt(traces)))
    return side, max(8, math.ceil(traces / side)), samples


def mirrored(n: int, period: int) -> np.ndarray:
    """Indices 0..n-1 folded onto 0..period-1 as 0 1 .. p-1 p-1 .. 1 0 0 1 ...: a repeat without jumps."""
    i = np.arange(n) % (2 * period)
    return np.where(i < period, i, 2 * period - 1 - i)


def make_survey(path: Path, tile: Survey, shape: tuple[int, int, int], names: list[str], *, chunks, brick,
                threads: int = 2) -> Survey:
    """Write the large survey: the tile's volumes repeated over ``shape`` (see the module docstring)."""
    index = [mirrored(n, t) for n, t in zip(shape, tile.shape)]
    mask = tile.geometry.trace_mask[np.ix_(index[0], index[1])]
    geometry = dataclasses.replace(make_geometry(shape, 0), trace_mask=mask)
    survey = Survey.create(path, geometry, chunks=chunks, provenance={"command": "bench_survey"})
    sources = {s: np.asarray(tile.array(s)[...]) for s in sorted({source_of(n) for n in names})}
    targets = {n: survey.create_volume(n, provenance={"command": "bench_survey", "repeats": source_of(n)})
               for n in names}
    bricks = list(BrickPlan(survey.shape, survey.chunks, (*brick, shape[2])))

    def write(job):
        b, (k, name) = job
        il, xl, _ = region_slices(b.region)
        block = sources[source_of(name)].take(index[0][il], 0).take(index[1][xl], 1).take(index[2], 2)
        # A factor per brick and volume: equal bytes nowhere, the values' distribution unchanged.
        targets[name][il, xl, :] = block * np.float32(1 + 1e-4 * ((b.index[0] * 7 + b.index[1] * 13 + k) % 101))

    jobs = [(b, item) for b in bricks for item in enumerate(names)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, jobs))
    for name in names:
        survey.mark_complete(name)
    return survey


def remove(path: Path) -> None:
    """Remove what this benchmark made (a folder it created itself).

    After Ctrl-C, threads of the interrupted work (the synthetic survey's brick writers) may still be writing
    into it for a moment, so this tries again until the folder is gone; the caller also registers it to run
    at exit, after Python has joined those threads.
    """
    for _ in range(10):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.5)
