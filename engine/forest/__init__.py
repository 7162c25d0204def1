"""Random-forest facies classification (AASPI rfc3d): training, safe model storage, survey prediction.

- :mod:`.train`: stratified cross-validation of tree counts, refit, report (scikit-learn);
- :mod:`.model` and :mod:`.model_io`: the forest as validated tree arrays (JSON) in ``models/<name>`` (never a pickle);
- :mod:`.predict`: probabilities of blocks of voxels: nvForest on the GPU, facies' own tree-at-a-time walk
  on the CPU (:mod:`.cpu_predict`), or treelite;
- :mod:`.operator` and :mod:`.predict_survey`: the brick-engine operator and the resumable survey run;
- :mod:`.report` and :mod:`.figures`: CSV tables and the PNG of a training report.

See docs/forest.md.
"""

from facies.engine.forest.attributes import choose_attributes
from facies.engine.forest.model import ForestModel, Normalisation
from facies.engine.forest.model_io import list_models, load_model, save_model
from facies.engine.forest.operator import ForestOperator, output_names
from facies.engine.forest.predict import ForestPredictor, classify_rows
from facies.engine.forest.predict_survey import predict_survey
from facies.engine.forest.train import TrainedForest, train_forest

__all__ = ["ForestModel", "ForestOperator", "ForestPredictor", "Normalisation", "TrainedForest", "choose_attributes",
           "classify_rows", "list_models", "load_model", "output_names", "predict_survey", "save_model", "train_forest"]
