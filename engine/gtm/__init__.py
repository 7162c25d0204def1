"""Generative Topographic Mapping of a whole survey: fit on a sample, project every voxel, show the map.

- :mod:`.sample`: a seeded, stratified sample of live voxels, read brick by brick;
- :mod:`.attributes`: which attributes (``--attributes``, a selection folder, the store's latest selection);
- :mod:`.model` and :mod:`.model_io`: the fitted map as validated JSON in ``gtm_models/<name>`` (never a pickle);
- :mod:`.fit`: ``facies gtm fit`` (sample, standardise, EM, facies PDFs from the training table, save);
- :mod:`.operator` and :mod:`.project`: the brick operator and the resumable survey run;
- :mod:`.show`: pictures of the latent space and a CSV of the facies PDFs.

The kernels (EM, responsibilities, the fused projection) are :mod:`facies.kernels.gtm`.
"""

from facies.engine.gtm.model import METHODS, GtmModel
from facies.engine.gtm.model_io import list_gtms, load_gtm, save_gtm

__all__ = ["METHODS", "GtmModel", "list_gtms", "load_gtm", "save_gtm"]
