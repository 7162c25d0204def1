"""Placeholder: the structure kernels (being written)."""
