"""The ``analytics/dashboard`` asset: the HTML dashboard, rebuilt from gold every time."""

import dagster as dg

from finance_assets.analytics.dashboard import metadata_markdown, write_dashboard
from finance_assets.automation.conditions import FOLLOWS_ITS_INPUTS
from finance_assets.gold.tables import (
    BUDGET_VS_ACTUAL,
    CUSTOMER_360,
    DAILY_KPI,
    MONTHLY_FINANCIAL_REPORT,
    SALES_PERFORMANCE,
)
from finance_assets.lake.resources import LakeResource
from finance_assets.lake.tables import DASHBOARD

DASHBOARD_KEY = DASHBOARD.key

DASHBOARD_DEPS = tuple(
    t.table.key
    for t in (
        DAILY_KPI,
        MONTHLY_FINANCIAL_REPORT,
        BUDGET_VS_ACTUAL,
        CUSTOMER_360,
        SALES_PERFORMANCE,
    )
)


def build_dashboard() -> dg.AssetsDefinition:
    @dg.asset(
        key=DASHBOARD_KEY,
        group_name="analytics",
        deps=[dg.AssetDep(k, partition_mapping=dg.AllPartitionMapping()) for k in DASHBOARD_DEPS],
        kinds={"html", "duckdb"},
        pool=DASHBOARD.pool,
        automation_condition=FOLLOWS_ITS_INPUTS,
        description=(
            "Self-contained HTML dashboard (dashboard/index.html in the lake) built from the "
            "gold tables with DuckDB over delta-rs: revenue vs expenses by month, MoM growth, "
            "budget vs actual with overspending, top customers, payment success, outstanding "
            "balances by age. Works offline; key charts are in this asset's metadata."
        ),
    )
    def dashboard(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        path, data = write_dashboard(lake.uri)
        if data.missing:
            context.log.warning(
                "dashboard built without tables that are not materialized yet: "
                + ", ".join(data.missing)
            )
        metadata: dict[str, object] = {
            "path": dg.MetadataValue.path(str(path)),
            "url": dg.MetadataValue.url(path.as_uri()),
            "as_of": dg.MetadataValue.text(data.as_of or "n/a"),
            "months": dg.MetadataValue.int(len(data.sections["revenue_expenses"].rows)),
            "missing_tables": dg.MetadataValue.json(data.missing),
        }
        for key, markdown in metadata_markdown(data).items():
            metadata[key] = dg.MetadataValue.md(markdown)
        return dg.MaterializeResult(metadata=metadata)

    return dashboard


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[build_dashboard()])
