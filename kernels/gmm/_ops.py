"""The hot steps of mixture fitting, array-generic: E-, S- and C-steps and statistics (the reference).

Layout: log-joint densities ``log(pi_k f_k(x_i))`` are (B, G, K, n) (batch items, models, components,
voxels), each component's row contiguous over voxels so every element-wise pass streams through
memory. Hard partitions (S- and C-steps) are returned as their *head*: the one-hot indicator of the
first ``K - 1`` components, (B, G, K-1, n) float64. The last component's statistics are the
item's totals minus the head's (a partition covers every voxel once), which halves the statistics
product for the default K = 2.

``K = 2`` (the default and most of the work) has a fused path: with ``delta = l1 - l0`` and
``e = exp(-|delta|)`` one exponential and one ``log1p`` per voxel give both the log-likelihood
``max(l0, l1) + log1p(e)`` and the responsibility ``p0 = (delta <= 0 ? 1 : e) / (1 + e)``. The
CUDA kernels (``_cuda.py``, ``gmm.cu``) evaluate the very same expressions, so the two
backends differ only by the last bit of ``exp``/``log1p``.

Two levels: the *density* level works on log-joint arrays (``log_joint``, ``posterior``,
``sstep``, ``classify``, ``hard_statistics``), and the *coefficient* level (``s_step``, ``c_step``,
``observed_loglik``) is what the fits (``_fit.py``) call: coefficients and features in,
log-likelihoods and partition statistics out, here by composing the density level.
:class:`MixtureOps` is the reference and runs unchanged on CuPy; ``_cuda.CudaOps`` replaces the
element-wise density steps by RawKernels, and ``_numpy.NumpyOps`` replaces the coefficient level
by a fused, cache-tiled CPU path. :func:`ops_for` picks between those two from the array module of
the inputs (:func:`facies.kernels.array_module.implementation`), as every algorithm of
``facies.kernels`` dispatches.
"""

from __future__ import annotations

from facies.kernels.array_module import array_module, implementation, quiet
from facies.kernels.gmm._density import feature_dimension, unpack_statistics

#: 2**32: S-step draws compare ``w + 0.5`` with ``p * 2**32`` (exact in float64).
TWO32 = 4294967296.0


def ops_for(array) -> type[MixtureOps]:
    """The hot steps for the array module of ``array``: the NumPy or the CUDA implementation.

    Parameters
    ----------
    array : array-like
        An input of the fit (the quadratic features ``q``).

    Returns
    -------
    type
        ``NumpyOps`` (``_numpy.py``) for NumPy arrays, ``CudaOps`` (``_cuda.py``, RawKernels of
        ``gmm.cu``) for CuPy arrays; the CUDA module is imported only for a CuPy array.
    """
    return implementation(__package__, array).Ops


class MixtureOps:
    """Vectorised hot steps for the array module of the inputs (NumPy or CuPy): the reference."""

    name = "reference"

    # ------------------------------------------------------------------ densities and soft E-step
    @staticmethod
    def log_joint(q, coef, k: int):
        """``log(pi_k f_k(x_i))`` for every model, component and voxel: (B, G, K, n).

        ``q`` (B, n, p) quadratic features; ``coef`` (B, G*K, p) from ``_fit.coefficients``.
        """
        xp = array_module(q)
        lj = coef @ xp.swapaxes(q, -1, -2)
        return lj.reshape(lj.shape[0], -1, k, lj.shape[-1])

    @staticmethod
    def _logsumexp(lj):
        """Per-voxel observed log-likelihood ``log sum_k exp(l_k)`` (B, G, n) and, for ``K = 2``, ``e`` (else None).

        ``K = 2`` is the fused ``max(l0, l1) + log1p(e)`` with ``e = exp(-|l1 - l0|)`` (the
        expression of the CUDA kernels), which :meth:`posterior` reuses for the responsibilities.
        """
        xp = array_module(lj)
        k = lj.shape[-2]
        if k == 1:
            return lj[..., 0, :], None
        if k == 2:
            l0, l1 = lj[..., 0, :], lj[..., 1, :]
            e = xp.exp(-xp.abs(l1 - l0))
            return xp.maximum(l0, l1) + xp.log1p(e), e
        m = lj.max(axis=-2)
        return m + xp.log(xp.exp(lj - m[..., None, :]).sum(axis=-2)), None

    @staticmethod
    def posterior(lj):
        """Observed log-likelihood per fit (B, G) and responsibilities (B, G, K, n)."""
        xp = array_module(lj)
        with quiet(xp):
            lse, e = MixtureOps._logsumexp(lj)
            if e is not None:
                p0 = xp.where(lj[..., 1, :] <= lj[..., 0, :], 1.0, e) / (1.0 + e)
                return lse.sum(axis=-1), xp.stack([p0, 1.0 - p0], axis=-2)
            return lse.sum(axis=-1), xp.exp(lj - lse[..., None, :])

    @staticmethod
    def loglik(lj):
        """Observed log-likelihood per fit (B, G): the first result of :meth:`posterior`, without the
        responsibilities."""
        with quiet(array_module(lj)):
            return MixtureOps._logsumexp(lj)[0].sum(axis=-1)

    # ------------------------------------------------------------------ hard partitions
    @staticmethod
    def sstep(lj, draws, iteration: int):
        """E-step and S-step together: log-likelihood (B, G) and the head of the drawn partition (B, G, K-1, n).

        Voxel i goes to the first component j with ``u < p_0 + ... + p_j``, ``u = (w + 0.5) / 2**32``
        for the 32-bit Philox word ``w`` of ``draws.sstep(iteration)`` (B, G, n).
        """
        xp = array_module(lj)
        k = lj.shape[-2]
        scaled = xp.asarray(draws.sstep(iteration))
        scaled += 0.5  # u * 2**32, exact in float64
        with quiet(xp):
            if k == 2:
                l0, l1 = lj[..., 0, :], lj[..., 1, :]
                delta = l1 - l0
                e = xp.abs(delta)
                xp.negative(e, out=e)
                xp.exp(e, out=e)
                ll = xp.maximum(l0, l1).sum(axis=-1) + xp.log1p(e).sum(axis=-1)
                p0 = xp.where(delta <= 0, 1.0, e)
                e += 1.0
                p0 /= e
                p0 *= TWO32
                head = (scaled < p0).astype(lj.dtype)
                return ll, head[..., None, :]
            lse, _ = MixtureOps._logsumexp(lj)
            head = xp.empty(lj.shape[:-2] + (k - 1, lj.shape[-1]), dtype=lj.dtype)
            taken = xp.zeros(scaled.shape, dtype=bool)
            cum = xp.zeros(lse.shape)
            for j in range(k - 1):
                cum += xp.exp(lj[..., j, :] - lse)
                hit = scaled < cum * TWO32
                hit &= ~taken
                head[..., j, :] = hit
                taken |= hit
            return lse.sum(axis=-1), head

    @staticmethod
    def classify(lj):
        """C-step: head of the MAP partition (ties to the lowest index) and the classification log-likelihood (B, G)."""
        xp = array_module(lj)
        k = lj.shape[-2]
        if k == 2:
            l0, l1 = lj[..., 0, :], lj[..., 1, :]
            return (l1 <= l0).astype(lj.dtype)[..., None, :], xp.maximum(l0, l1).sum(axis=-1)
        z = lj.argmax(axis=-2)
        head = (z[..., None, :] == xp.arange(k - 1)[:, None]).astype(lj.dtype)
        return head, lj.max(axis=-2).sum(axis=-1)

    # ------------------------------------------------------------------ sufficient statistics
    @staticmethod
    def statistics(q, r, d: int):
        """Sufficient statistics of responsibilities ``r`` (B, G, K, n): nk (B,G,K), sk, s2k."""
        xp = array_module(q)
        b, g, k, n = r.shape
        s = r.reshape(b, g * k, n) @ q  # (B, G*K, p)
        return unpack_statistics(xp.swapaxes(s.reshape(b, g, k, -1), -1, -2), d)

    @staticmethod
    def hard_statistics(q, head, total, d: int):
        """Statistics of a hard partition given by its head (B, G, K-1, n) and the item totals ``q.sum(1)`` (B, p)."""
        b, g, h, n = head.shape
        s = (head.reshape(b, g * h, n) @ q).reshape(b, g, h, q.shape[-1])
        return MixtureOps.partition_statistics(s, total, d)

    @staticmethod
    def partition_statistics(s, total, d: int):
        """nk, sk, s2k of a partition from the feature sums of its head components ``s`` (B, G, K-1, p).

        The last component's sums are the item totals (B, p) minus the head's.
        """
        xp = array_module(s)
        last = total[:, None, None, :] - s.sum(axis=2, keepdims=True)
        s = xp.concatenate([s, last], axis=2)  # (B, G, K, p)
        return unpack_statistics(xp.swapaxes(s, -1, -2), d)

    # ------------------------------------------------------------------ coefficient level (what _fit calls)
    @classmethod
    def s_step(cls, q, coef, k: int, draws, iteration: int, total):
        """Observed log-likelihood (B, G) of the mixtures ``coef`` and the statistics (nk, sk, s2k) of a drawn
        partition.

        ``coef`` (B, G*K, p) from ``_fit.coefficients``; ``total`` is ``q.sum(1)``.
        """
        ll, head = cls.sstep(cls.log_joint(q, coef, k), draws, iteration)
        return ll, cls.hard_statistics(q, head, total, feature_dimension(q.shape[-1]))

    @classmethod
    def c_step(cls, q, coef, k: int, total):
        """Classification log-likelihood (B, G) and the statistics of the MAP partition (ties to the lowest index)."""
        head, cl = cls.classify(cls.log_joint(q, coef, k))
        return cl, cls.hard_statistics(q, head, total, feature_dimension(q.shape[-1]))

    @classmethod
    def observed_loglik(cls, q, coef, k: int, total=None):
        """Observed log-likelihood (B, G) of the mixtures ``coef`` (``total``, ``q.sum(1)``, may save a pass)."""
        return cls.loglik(cls.log_joint(q, coef, k))
