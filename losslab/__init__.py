"""losslab: instruments and engines for reproducing loss-landscape claims.

Layers (imports point down): report -> train/cache -> nets/data -> probes/stats/seeds/catalog.
"""

__version__ = "0.1.0"
