"""Load the training-fixtures plugin for these tests (until the root conftest lists "fixtures.trained";
pytest allows pytest_plugins only in the root conftest, so re-export its fixtures and hook here)."""

from fixtures.trained import pytest_configure, recipe_data_for, trained_net  # noqa: F401
