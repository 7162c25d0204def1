"""Parameters of an attribute selection run (every choice of docs/selection.md is one of these)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from facies.engine.errors import FaciesError
from facies.kernels.gmm import MAX_COMPONENTS, MODELS


#: The choices of docs/selection.md; the first of each is the default (the AASPI notes' definition).
SCORES = ("aaspi", "between-facies")
CHOOSE_RULES = ("argmax", "parsimony")
BIC_RULES = ("classification", "observed")
INITS = ("pca2", "full")
SPLITS = ("auto", "polygons", "random")


@dataclass(frozen=True)
class SelectionSettings:
    """What to fit and how.

    ``models``: mclust names; ``max_clusters``: J, 1..8 (the GPU kernels' limit); ``sem_iter``: SEM
    iterations; ``kmeans_starts``: seeded starts; ``cem_tol``/``cem_max_iter``: CEM stopping rule;
    ``holdout``: held-out fraction per facies (0 disables validation); ``select_by``: ``"score"`` or
    ``"validation"``; ``score``: ``"aaspi"`` (the notes' eq. 8) or ``"between-facies"`` (facies' earlier
    score); ``choose``: overall best by score, ``"argmax"`` (eq. 9) or ``"parsimony"`` (the smallest
    dimension within ``score_tolerance`` of the top); ``bic``: ``"classification"`` (eq. 6 with eq. 5) or
    ``"observed"`` (mclust); ``init``: k-means ``"pca2"`` (first two principal axes, ``kmeans_iter``
    default 300) or ``"full"`` (all attributes, default 20 iterations); ``split``: held-out voxels by
    ``"auto"`` (whole polygons when every facies has two or more, else random), ``"polygons"`` or
    ``"random"``; ``rcond``: smallest eigenvalue ratio of a usable covariance; ``chunk_bytes``:
    memory bound of one batch on the CPU (small enough for a batch's work arrays to stay in cache);
    ``gpu_chunk_bytes``: the same on a GPU (large batches keep the device busy); ``workers``: CPU
    worker processes (0: one per core for runs long enough to pay their start-up, else this process;
    see :mod:`facies.engine.selection.runner`).
    """

    models: tuple = MODELS
    max_clusters: int = 2
    sem_iter: int = 200
    kmeans_starts: int = 3
    kmeans_iter: int | None = None
    cem_tol: float = 1e-8
    cem_max_iter: int = 100
    holdout: float = 0.3
    seed: int = 0
    select_by: str = "score"
    score: str = "aaspi"
    choose: str = "argmax"
    score_tolerance: float = 0.01
    bic: str = "classification"
    init: str = "pca2"
    split: str = "auto"
    rcond: float = 1e-10
    chunk_bytes: int = 256 * 2**20
    gpu_chunk_bytes: int = 4 * 2**30
    workers: int = 0

    def __post_init__(self):
        for option, value, allowed in (("--score", self.score, SCORES), ("--choose", self.choose, CHOOSE_RULES),
                                       ("--bic", self.bic, BIC_RULES), ("--init", self.init, INITS),
                                       ("--split", self.split, SPLITS)):
            if value not in allowed:
                raise FaciesError(f"{option} must be {' or '.join(map(repr, allowed))}, not {value!r}")
        if not 0 <= self.score_tolerance < 1:
            raise FaciesError(f"--tolerance must be in [0, 1) (a fraction of the top score), "
                              f"not {self.score_tolerance}")
        if self.kmeans_iter is None:  # the notes' 300 iterations in the 2-D space; 20 (earlier default) in full space
            object.__setattr__(self, "kmeans_iter", 300 if self.init == "pca2" else 20)
        if self.kmeans_iter < 1:
            raise FaciesError(f"k-means iterations must be 1 or more, not {self.kmeans_iter}")
        bad = [m for m in self.models if m not in MODELS]
        if bad or not self.models:
            raise FaciesError(f"unknown covariance model(s) {', '.join(bad) or '(none)'}; "
                              f"choose from {', '.join(MODELS)}")
        if not 1 <= self.max_clusters <= MAX_COMPONENTS:
            raise FaciesError(f"--max-clusters must be between 1 and {MAX_COMPONENTS}, not {self.max_clusters}")
        if self.sem_iter < 0:
            raise FaciesError(f"--sem-iter must be 0 or more, not {self.sem_iter}")
        if self.workers < 0:
            raise FaciesError(f"--workers must be 0 (one per core) or a number of processes, not {self.workers}")
        if not 0 <= self.holdout < 1:
            raise FaciesError(f"the held-out fraction must be in [0, 1), not {self.holdout}")
        if self.select_by not in ("score", "validation"):
            raise FaciesError(f"--select-by must be 'score' or 'validation', not {self.select_by!r}")
        if self.select_by == "validation" and self.holdout == 0:
            raise FaciesError("--select-by validation needs a held-out fraction above 0")

    def as_dict(self) -> dict:
        out = asdict(self)
        out["models"] = list(self.models)
        return out


def parse_models(text: str) -> tuple:
    """``default`` / ``all`` (the nine closed-form models) or a comma list of mclust names."""
    t = text.strip()
    if t.lower() in ("default", "all"):
        return MODELS
    return tuple(m.strip().upper() for m in t.split(",") if m.strip())
