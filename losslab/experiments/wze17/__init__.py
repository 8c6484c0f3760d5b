"""WZE17 (Wu, Zhu, E 2017) experiment pipelines: attack sweep (Sec. 5), curvature measurements (Figs. 2-3)."""
