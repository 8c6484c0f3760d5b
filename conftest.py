"""Load the claim-suite plugin (options, claim marker, evidence, report)."""

pytest_plugins = ["losslab.report.options", "losslab.report.devices", "losslab.report.plugin", "losslab.report.sharding",
                  "fixtures.trained", "fixtures.smoke"]
