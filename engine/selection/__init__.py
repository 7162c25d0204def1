"""Attribute selection: Gaussian mixtures per facies over attribute combinations, scored by Bhattacharyya distance.

See docs/selection.md for the method and every choice made. Entry points: :func:`run_selection`
(arrays) and :func:`select_attributes` (``facies select``: a training table to files and a store record).
"""

from facies.engine.selection.combinations import combinations_of, parse_dims
from facies.engine.selection.settings import SelectionSettings
from facies.engine.selection.workflow import SelectionResult, SelectionRun, run_selection, select_attributes

__all__ = ["SelectionResult", "SelectionRun", "SelectionSettings", "combinations_of", "parse_dims", "run_selection",
           "select_attributes"]
