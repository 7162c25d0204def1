"""``facies bench``: throughput of each per-voxel stage of the workflow on this machine, beside a baseline
measured in the same run, and what those rates mean for a whole survey (docs/benchmark.md).

Entry points: :func:`run_benchmark` (measure), :func:`project_workflow` (the survey projection, a pure
function), :func:`load_report` and :func:`compare_reports` (``--compare``).
"""

from facies.engine.benchmark.compare import compare_reports, load_report
from facies.engine.benchmark.projection import project_workflow
from facies.engine.benchmark.run import BenchSettings, run_benchmark

__all__ = ["BenchSettings", "compare_reports", "load_report", "project_workflow", "run_benchmark"]
