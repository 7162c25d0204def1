"""Seismic attributes computed from an amplitude volume in the brick engine (docs/attributes.md)."""
