"""The fused apply pass: filter, GTM projection and forest prediction in one read of each brick.

- :mod:`.chain`: the operator chain of a survey pass of stored models (filters of virtual attributes, the
  GTM, the forest), which ``facies apply``, ``rf predict`` and ``gtm project`` all build;
- :mod:`.workflow`: :func:`~facies.engine.apply.workflow.apply_models`, ``facies apply``: which outputs,
  checks, one run (local or Dask), descriptions of the outputs;
- :mod:`.kinds`: output arrays of different kinds in one run (results, and filtered attributes).

See docs/engine.md, "The fused apply pass". Nothing is imported here: ``rf predict`` imports the chain
while the forest package loads.
"""
