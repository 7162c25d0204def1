"""Placeholder: the spectral kernels (being written)."""
