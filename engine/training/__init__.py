"""Training data from interpreter polygons (the ``define_training_data`` step).

Interpreters draw polygons around facies on inline, crossline and time/depth slices; every voxel
centre inside (or on the edge of) a polygon becomes a training voxel of that facies, with its
values in the chosen attributes. The table feeds attribute selection, the GTM and the random forest.
See docs/training.md for the file formats and the rasterisation rule.
"""

from facies.engine.training.extract import extract_training, polygon_voxels
from facies.engine.training.importing import check_against_survey, import_training
from facies.engine.training.polygons import PolygonFile, read_polygons
from facies.engine.training.report import min_training_voxels, summarise
from facies.engine.training.table import CsvRows, TrainingTable, list_tables, read_training_csv

__all__ = ["CsvRows", "PolygonFile", "TrainingTable", "check_against_survey", "extract_training", "import_training",
           "list_tables", "min_training_voxels",
           "polygon_voxels", "read_polygons", "read_training_csv", "summarise"]
