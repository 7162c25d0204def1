"""Placeholder: the coherence kernels (being written)."""
