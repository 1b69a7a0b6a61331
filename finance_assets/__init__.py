"""finance-assets: raw financial CSV drops to Bronze, Silver and Gold Delta tables."""

import warnings

# BackfillPolicy is marked beta in Dagster 1.13; single-run backfills are a deliberate
# design choice here (one Spark job per asset per range), so its notice is not repeated
# for every asset at load time.
warnings.filterwarnings("ignore", message=r".*`backfill_policy`.*", category=Warning)
