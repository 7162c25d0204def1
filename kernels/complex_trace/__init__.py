"""Placeholder: the complex_trace kernels (being written)."""
