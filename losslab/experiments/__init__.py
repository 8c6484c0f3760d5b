"""Experiment pipelines, one module (or subpackage) per paper: recipes, sweeps and measurements usable
outside pytest (DESIGN.md, "Layers")."""
