"""SEG-Y ingest into a survey store and export of any 3D array back to SEG-Y.

Modules, one concept each: :mod:`.layout` (file-level headers), :mod:`.formats` (sample
formats, IBM floats), :mod:`.headers` (trace header fields through a memory map),
:mod:`.binning` (traces onto the inline/crossline grid), :mod:`.axis` (time or depth),
:mod:`.scan` (headers -> geometry, presets), :mod:`.reader` (trace records),
:mod:`.ingest` and :mod:`.export`.
"""

from facies.engine.schema import SEGY_ATTRS
from facies.engine.segy.export import export_segy
from facies.engine.segy.ingest import ingest_segy
from facies.engine.segy.scan import PRESETS, header_bytes, scan_segy

__all__ = ["PRESETS", "SEGY_ATTRS", "export_segy", "header_bytes", "ingest_segy", "scan_segy"]
