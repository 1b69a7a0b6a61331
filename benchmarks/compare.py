"""Compare gold tables written by different engines, row for row, value for value.

The comparison runs in DuckDB (``EXCEPT ALL`` both ways), so it scales to benchmark-size
tables without loading them into Python. The product's tables are read through delta-rs
(the current snapshot only, scanned by PyArrow); a baseline's are its Parquet files.
"""

from __future__ import annotations

from pathlib import Path

from finance_assets_tests.support.oracle import GOLD_TABLES


def _parquet(folder: Path) -> str:
    return f"read_parquet('{folder}/**/*.parquet', hive_partitioning = false)"


def compare_gold(product_lake, baseline_gold, tables=GOLD_TABLES) -> dict[str, str]:
    """Differences between the product's gold Delta tables and a baseline's gold Parquet.

    Returns ``{table: description}`` for every table that differs; empty when all match.
    """
    import duckdb

    from finance_assets.lake.arrow import dataset

    con = duckdb.connect()
    problems: dict[str, str] = {}
    for table in tables:
        product = dataset(Path(product_lake, "gold", table))
        con.register("product", product)
        source = _parquet(Path(baseline_gold, table))
        con.execute(f"CREATE OR REPLACE VIEW baseline AS SELECT * FROM {source}")
        want = set(product.schema.names)
        got = {r[0] for r in con.execute("DESCRIBE baseline").fetchall()}
        if want != got:
            problems[table] = f"columns differ: product {sorted(want)} vs baseline {sorted(got)}"
            con.unregister("product")
            continue
        cols = ", ".join(f'"{c}"' for c in sorted(want))
        only = {}
        for name, a, b in (("product", "product", "baseline"), ("baseline", "baseline", "product")):
            only[name] = con.execute(
                f"SELECT {cols} FROM {a} EXCEPT ALL SELECT {cols} FROM {b} LIMIT 3"
            ).fetchall()
        if only["product"] or only["baseline"]:
            counts = [
                con.execute(f"SELECT COUNT(*) FROM {r}").fetchall()[0][0]
                for r in ("product", "baseline")
            ]
            problems[table] = (
                f"{counts[0]} vs {counts[1]} rows; only in product: {only['product']}; "
                f"only in baseline: {only['baseline']} (columns {sorted(want)})"
            )
        con.unregister("product")
    con.close()
    return problems
