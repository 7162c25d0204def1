"""Placeholder: the glcm kernels (being written)."""
