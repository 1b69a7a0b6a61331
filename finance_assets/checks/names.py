"""Asset check names, as constants so definitions, tests and alerts agree."""

BRONZE_RECONCILES = "bronze_rows_reconcile"
