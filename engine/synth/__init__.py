"""The built-in synthetic survey: facies bodies with known labels, seismic, attributes and polygons.

See docs/synthetic.md for the model and the attributes' roles, docs/polygons.md for where the polygons are drawn
(their format is docs/training.md's).
"""

from facies.engine.synth.attributes import ATTRIBUTE_NAMES, ATTRIBUTES
from facies.engine.synth.generate import make_synthetic
from facies.engine.synth.layout import SIZES
from facies.engine.synth.model import FACIES_NAMES
from facies.engine.synth.polygons import polygons_path

__all__ = ["ATTRIBUTES", "ATTRIBUTE_NAMES", "FACIES_NAMES", "SIZES", "make_synthetic", "polygons_path"]
