"""Experiments: per paper, the pipelines that run a measurement and return its evidence (DESIGN.md, Layers)."""
