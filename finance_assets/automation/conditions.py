"""Declarative automation: tables that follow the days they read.

Monthly gold reads the days of its month from daily silver; the dashboard reads every gold
table. Instead of chaining runs by hand, these assets carry an automation condition: once a
partition they read was updated (by the landing sensor's runs, the schedule, a backfill), and
nothing they read is still being written, Dagster's automation sensor requests them, for the
affected months only. A run that already brought them up to date (``finance-assets
materialize`` runs the monthly job itself) resets the condition, so nothing runs twice.
"""

from __future__ import annotations

import dagster as dg

AUTOMATION_SENSOR = "finance_automation"

FOLLOWS_ITS_INPUTS = (
    dg.AutomationCondition.any_deps_updated()
    .since_last_handled()
    .with_label("an input was updated since this was last handled")
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("follows its inputs")
"""Materialize a partition after any partition it reads was updated, once those runs ended.

Unlike ``AutomationCondition.eager()`` it also updates past months (late data for an old day
changes its month) and does not wait for the days of the month that have not happened yet."""


def build_automation_sensor(running: bool) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING
        if running
        else dg.DefaultSensorStatus.STOPPED,
        description="Evaluates the automation conditions of monthly gold and the dashboard.",
    )
