"""LP17 (Liao-Poggio 2017) experiments: perturb-and-retrain, branching trajectories, minima, training."""
