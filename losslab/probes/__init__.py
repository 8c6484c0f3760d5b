"""Hessian instruments: operators (HVP, Gauss-Newton), Lanczos, densities, trace and norm estimators."""
