"""Window samples of the coherence attributes on NumPy or CuPy arrays: blocks, dip steering, eigenstructure.

Written once with ``xp.`` calls: the NumPy backend runs all of it, the CUDA backend its
eigenstructure (semblance has a fused kernel there). Everything works on a *tile* of the output
region, read with its halo as a float64 block that holds NaN outside the volume, so a window that
reaches past the volume sees invalid samples, exactly as the CUDA kernel's bounds checks do.

Sample ``c`` of neighbour trace ``(a, b)`` in the window of voxel ``(i, j, k)``:
``block[i + a, j + b, k + c]`` (offsets from the window's centre, halo added), or steered,
the trace interpolated at ``k + c + shift`` (:mod:`.windows`). Invalid samples are not finite here
(NaN, or infinite where the volume holds infinities); the callers leave them out of their sums
(semblance) or take them as 0 (eigenstructure).
"""

from __future__ import annotations

import numpy as np

from facies.kernels.array_module import quiet


def read_block(x, box, halo, xp):
    """``x`` over ``box`` grown by ``halo`` per side, as float64, NaN where that reaches outside ``x``."""
    read = [(max(0, a - h), min(int(n), b + h)) for (a, b), h, n in zip(box, halo, x.shape)]
    block = x[tuple(slice(a, b) for a, b in read)].astype(xp.float64)
    pad = [(r0 - (a - h), (b + h) - r1) for (a, b), h, (r0, r1) in zip(box, halo, read)]
    if any(before or after for before, after in pad):
        block = xp.pad(block, pad, mode="constant", constant_values=np.nan)
    return block


def steering(dip_il, dip_xl, radii, halo, block_shape, max_dip: float, xp):
    """Per lateral offset ``(a, b)``, where its samples lie in the tile's block, and their interpolation weights.

    ``dip_il``, ``dip_xl`` are the dips at the tile's voxels; each is clipped to ``[-max_dip, max_dip]``
    in float64, and ``shift = p_il * a + p_xl * b``. Returns ``(steps, no_dip)``: by offset, the flat
    indices into the (C-contiguous) block of samples ``floor(shift)`` and ``floor(shift) + 1`` of neighbour
    trace ``(a, b)`` at the window's first sample ``c = -r_t`` (the second equal to the first where the shift
    is whole: then ``(1 - 0) * x0 + 0 * x0`` is ``x0``, and a non-finite ``x0`` stays non-finite), the
    fraction ``f = shift - floor(shift)`` and ``1 - f``; and where a dip is NaN (the output is NaN there;
    the dip is taken as 0 meanwhile).
    """
    p_il, p_xl = dip_il.astype(xp.float64), dip_xl.astype(xp.float64)
    no_dip = xp.isnan(p_il) | xp.isnan(p_xl)
    p_il = xp.clip(xp.where(no_dip, 0.0, p_il), -max_dip, max_dip)
    p_xl = xp.clip(xp.where(no_dip, 0.0, p_xl), -max_dip, max_dip)
    r_il, r_xl, r_t = radii
    h_il, h_xl, h_t = halo
    n_il, n_xl, n_t = p_il.shape
    _, m_xl, m_t = block_shape
    il = xp.arange(n_il, dtype=xp.int64)[:, None, None]
    xl = xp.arange(n_xl, dtype=xp.int64)[None, :, None]
    t = xp.arange(n_t, dtype=xp.int64)[None, None, :] + (h_t - r_t)
    steps = {}
    for a in range(-r_il, r_il + 1):
        for b in range(-r_xl, r_xl + 1):
            shift = p_il * a + p_xl * b
            whole = xp.floor(shift)
            fraction = shift - whole
            first = ((il + (h_il + a)) * m_xl + (xl + (h_xl + b))) * m_t + t + whole.astype(xp.int64)
            steps[a, b] = (first, first + (fraction != 0.0), fraction, 1.0 - fraction)
    return steps, no_dip


def window_sample(block, halo, shape, radii, a: int, b: int, c: int, step, xp):
    """Sample ``c`` of neighbour trace ``(a, b)`` for every voxel of the tile (float64, not finite where invalid).

    ``step`` is that offset's entry of :func:`steering`, or None (unsteered: a view of the block). Steered,
    the kernel's ``(1 - f) * x0 + f * x1``, in a fresh array.
    """
    h_il, h_xl, h_t = halo
    n_il, n_xl, n_t = shape
    if step is None:
        return block[h_il + a:h_il + a + n_il, h_xl + b:h_xl + b + n_xl, h_t + c:h_t + c + n_t]
    first, second, fraction, complement = step
    flat = block.reshape(-1)[c + radii[2]:]  # the indices are those of c = -r_t
    x0 = xp.take(flat, first)
    x1 = xp.take(flat, second)
    with quiet(xp):
        x0 *= complement
        x1 *= fraction
        x0 += x1
    return x0


def semblance_tile(block, halo, shape, radii, steps, xp):
    """Semblance of a tile from its samples, in the CUDA kernel's order of operations.

    Per sample offset ``c``: ``s`` and ``q``, the sums over rows ``a`` of the row sums over ``b`` of the
    valid samples and of their squares, and ``n`` the count of valid samples; then ``num += s * s`` and
    ``den += n * q`` over ``c``; semblance ``num / den`` (NaN where ``den`` is 0). Invalid samples are set
    to 0 before they are added (adding 0 is exact), only in the samples that have some.
    """
    r_il, r_xl, r_t = radii
    num = xp.zeros(shape, xp.float64)
    den = xp.zeros(shape, xp.float64)
    square = xp.empty(shape, xp.float64)
    for c in range(-r_t, r_t + 1):
        s = xp.zeros(shape, xp.float64)
        q = xp.zeros(shape, xp.float64)
        n = xp.zeros(shape, xp.float64)
        for a in range(-r_il, r_il + 1):
            row_s = xp.zeros(shape, xp.float64)
            row_q = xp.zeros(shape, xp.float64)
            for b in range(-r_xl, r_xl + 1):
                v = window_sample(block, halo, shape, radii, a, b, c, None if steps is None else steps[a, b], xp)
                ok = xp.isfinite(v)
                if bool(ok.all()):
                    n += 1.0
                else:
                    v = xp.where(ok, v, 0.0)
                    n += ok
                row_s += v
                row_q += xp.multiply(v, v, out=square)
            s += row_s
            q += row_q
        num += xp.multiply(s, s, out=square)
        den += xp.multiply(n, q, out=square)
    with quiet(xp):
        return xp.where(den > 0.0, num / den, np.nan)


def eigenstructure_tile(block, halo, shape, radii, steps, xp):
    """Eigenstructure coherence of a tile: ``l1 / trace`` of each voxel's window covariance matrix.

    ``C[j1, j2] = sum_c u[j1, c] * u[j2, c]`` over the window's traces ``j`` (inline-major) and samples
    ``c``, invalid samples taken as 0 (they add nothing); ``l1`` its largest eigenvalue
    (``xp.linalg.eigvalsh``: LAPACK or cuSOLVER). NaN where the trace of ``C`` is 0.
    """
    r_il, r_xl, r_t = radii
    offsets = [(a, b) for a in range(-r_il, r_il + 1) for b in range(-r_xl, r_xl + 1)]
    voxels = int(np.prod(shape))
    u = []
    for a, b in offsets:
        samples = []
        for c in range(-r_t, r_t + 1):
            v = window_sample(block, halo, shape, radii, a, b, c, None if steps is None else steps[a, b], xp)
            samples.append(xp.where(xp.isfinite(v), v, 0.0).reshape(voxels))
        u.append(samples)
    traces = len(offsets)
    cov = xp.empty((voxels, traces, traces), xp.float64)
    total = xp.zeros(voxels, xp.float64)
    for j1 in range(traces):
        for j2 in range(j1, traces):
            acc = u[j1][0] * u[j2][0]
            for c in range(1, len(u[j1])):
                acc += u[j1][c] * u[j2][c]
            cov[:, j1, j2] = acc
            cov[:, j2, j1] = acc
            if j1 == j2:
                total += acc
    largest = xp.linalg.eigvalsh(cov)[:, -1]
    with quiet(xp):
        return xp.where(total > 0.0, largest / total, np.nan).reshape(shape)
