"""Experiment pipelines per paper: recipes' settings, measurements that return evidence (usable outside pytest)."""
