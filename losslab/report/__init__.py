"""The pytest plugin and the claim report (claims.json, claims.md)."""
