"""Attribute selection: Gaussian mixtures per facies over attribute combinations, scored by Bhattacharyya distance.

See docs/selection.md for the method and every choice made. Entry point: :func:`run_selection`.
"""

from facies.engine.selection.combinations import combinations_of, parse_dims
from facies.engine.selection.settings import SelectionSettings
from facies.engine.selection.workflow import SelectionResult, run_selection

__all__ = ["SelectionResult", "SelectionSettings", "combinations_of", "parse_dims", "run_selection"]
