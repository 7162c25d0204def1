"""The 3D adaptive Kuwahara filter as a brick operator.

:class:`KuwaharaOperator` wraps :func:`facies.kernels.kuwahara.kuwahara` for the brick engine:
halo = :func:`~facies.kernels.kuwahara.kuwahara_halo` (``r`` in octant mode, ``2a`` in shifted
mode), boundary ``"nan"`` (the kernel ignores NaNs, so windows are clipped at the survey edge
exactly as on the whole volume), and the store's ``trace_mask`` as a lateral input (dead traces
are left out of every window and keep their stored value). The kernel computes every output
voxel from its own window alone (fixed-order box sums), so any brick split equals the whole
volume bit for bit.

:class:`KuwaharaSettings` holds the radius, mode and statistic, checked once when made; the
whole-survey workflow (:func:`facies.engine.filtering.filter_kuwahara`) makes one and builds an
operator per input from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facies.engine.bricks.operator import Operator, Output
from facies.engine.errors import FaciesError
from facies.kernels.kuwahara import kuwahara
from facies.kernels.kuwahara.windows import check_box_size, check_mode, check_stat, kuwahara_halo, normalise_radius

#: The store's lateral array of live traces (True) and dead ones (False).
TRACE_MASK = "trace_mask"


@dataclass(frozen=True)
class KuwaharaSettings:
    """Radius, mode and statistic of the Kuwahara filter, checked once, when made.

    Attributes
    ----------
    radius : tuple of 3 int
        ``r`` (octant) or ``a`` (shifted) per axis (inline, crossline, sample), each >= 0; an int
        is taken for all three axes.
    mode : {"octant", "shifted"}
    stat : {"mean", "median"}
    halo : tuple of 3 int
        How far the windows reach, the halo a brick needs
        (:func:`~facies.kernels.kuwahara.kuwahara_halo`); derived, not given.

    Raises
    ------
    FaciesError
        A negative or malformed radius, windows of more than 65,535 voxels, an unknown mode or
        statistic: before any brick is read. (A radius too large for the GPU kernel's shared
        memory is refused by :meth:`KuwaharaOperator.compute` on the first GPU brick, where the
        device is known.)
    """

    radius: tuple[int, int, int] = (2, 2, 2)
    mode: str = "octant"
    stat: str = "mean"
    halo: tuple[int, int, int] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        try:  # the kernel's own checks, so the engine and the kernel never disagree
            radius = normalise_radius(self.radius)
            check_mode(self.mode)
            check_stat(self.stat)
            check_box_size(radius, self.mode)
        except ValueError as exc:
            raise FaciesError(str(exc).splitlines()[0]) from None  # one line, as every command error
        # Frozen: the normalised radius and the halo are set once, here.
        object.__setattr__(self, "radius", radius)
        object.__setattr__(self, "halo", kuwahara_halo(radius, self.mode))


class KuwaharaOperator(Operator):
    """Adaptive 3D Kuwahara filter of one input array (see ``docs/kuwahara.md``).

    Parameters
    ----------
    input_name : str
        Array to filter (a store array or an earlier operator's output).
    radius : int or tuple of 3 int
        ``r`` (octant) or ``a`` (shifted) per axis (inline, crossline, sample), each >= 0.
    mode : {"octant", "shifted"}
    stat : {"mean", "median"}
    output_name : str
        Name of the float32 output.
    use_mask : bool
        Read the store's ``trace_mask`` and leave dead traces out of every window.
    settings : KuwaharaSettings, optional
        Radius, mode and statistic already checked, in place of ``radius``, ``mode`` and ``stat``
        (the workflow checks them once for all its inputs).

    Raises
    ------
    FaciesError
        Without ``settings``: as :class:`KuwaharaSettings` for ``radius``, ``mode`` and ``stat``.
    """

    boundary = "nan"
    # The kernel's own output (float32) and the live-trace mask; on the CPU its box sums work in
    # tiles of bounded size (TILE_VOXELS in kernels/kuwahara/_numpy.py), so their scratch does not
    # grow with the brick. On the GPU the box statistics take 16 bytes per box.
    scratch_bytes_per_voxel = 4 + 16

    def __init__(self, input_name: str, radius=2, mode: str = "octant", stat: str = "mean",
                 output_name: str | None = None, use_mask: bool = True, *, settings: KuwaharaSettings | None = None):
        settings = settings or KuwaharaSettings(radius, mode, stat)
        self.radius, self.mode, self.stat = settings.radius, settings.mode, settings.stat
        self.use_mask = bool(use_mask)
        self.input_name = input_name
        self.output_name = output_name or f"{input_name}_kuw"
        self.inputs = (input_name, TRACE_MASK) if self.use_mask else (input_name,)
        self.outputs = (Output(self.output_name, "float32"),)
        self.halo = settings.halo

    def parameters(self) -> dict:
        return {"input": self.input_name, "output": self.output_name, "radius": list(self.radius),
                "mode": self.mode, "stat": self.stat, "use_mask": self.use_mask}

    def compute(self, inputs, xp):
        x = inputs[self.input_name]
        mask = None
        if self.use_mask:
            # Under the "nan" boundary the bool mask arrives as float32: 1 live, 0 dead, NaN
            # outside the survey (where x is NaN too, so False there changes nothing).
            mask = inputs[TRACE_MASK] == 1
        # The brick arrives grown by the halo: the kernel reads the halo (the windows reach into
        # it) but computes only the interior, the "valid" output (out_region).
        interior = tuple((h, n - h) for h, n in zip(self.halo, x.shape))
        try:
            filtered = kuwahara(x, self.radius, mode=self.mode, stat=self.stat, mask=mask, out_region=interior)
        except ValueError as exc:
            raise FaciesError(f"kuwahara on {self.input_name!r}: {str(exc).splitlines()[0]}") from None
        return {self.output_name: filtered.astype(xp.float32, copy=False)}

