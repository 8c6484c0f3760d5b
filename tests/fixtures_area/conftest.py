"""Make the training fixtures available to these tests until the root conftest lists "fixtures.trained"
(pytest accepts pytest_plugins only in the root conftest). Only the fixtures are re-exported: the
plugin's pytest_configure (one torch thread per process) takes effect once the root conftest loads it."""

from fixtures.trained import recipe_data_for, trained_net  # noqa: F401
