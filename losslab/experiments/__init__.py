"""Experiments layer: per paper, the recipes per tier and the measurements the claim tests assert on (DESIGN.md)."""
