"""``facies run PIPELINE.toml``: a declarative run file and its idempotent stages (docs/pipeline.md)."""
