"""Run the docstring examples of the core modules."""

import doctest
import importlib

import pytest

MODULES = ["geo.crs", "geo.bodies", "geo.uscc", "geo.validate", "geo.h3grid", "geo.regions", "layers.hazards",
           "layers.glyphs", "workflows.hidden_dangers", "workflows.evidence", "workflows.random_draw",
           "workflows.credit_rules", "workflows.accident_reports", "telemetry.payloads", "telemetry.health",
           "telemetry.alarm_rules", "workflows.alarms", "telemetry.registry", "geo.rule_tables"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
