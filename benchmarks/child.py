"""One engine run in its own process: ``python -m benchmarks.child ENGINE ...``.

The benchmark starts each engine in a fresh process so that its memory (Python, JVM and
Spark's Python workers) is measured alone and its start-up counts. Only the chosen
engine's modules are imported: neither PySpark baseline loads Dagster, DuckDB never
loads Spark. The result is written as JSON to ``--result``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.child")
    parser.add_argument("engine", choices=["product", "pyspark", "idiomatic", "duckdb"])
    parser.add_argument("--landing", required=True)
    parser.add_argument("--out", required=True, help="lake (product) or output folder")
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument(
        "--warm-repeats", type=int, default=0, help="product: run the range again, warm"
    )
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    if args.engine == "product":
        from benchmarks import product

        result = product.run(args.landing, args.out, args.start, args.end, args.warm_repeats)
    elif args.engine == "pyspark":
        from benchmarks import pyspark_baseline

        result = pyspark_baseline.run(args.landing, args.out, args.start, args.end)
        result["ok"] = True
        result["dagster_imported"] = any(m.split(".")[0] == "dagster" for m in sys.modules)
    elif args.engine == "idiomatic":
        from benchmarks import idiomatic_pyspark

        result = idiomatic_pyspark.run(args.landing, args.out, args.start, args.end)
        result["ok"] = True
        result["dagster_imported"] = any(m.split(".")[0] == "dagster" for m in sys.modules)
    else:
        from benchmarks import duckdb_baseline

        result = duckdb_baseline.run(args.landing, args.out, args.start, args.end)
        result["ok"] = True
    result["inner_seconds"] = time.perf_counter() - t0

    from benchmarks.procmon import own_tree_peaks

    peaks, kinds = own_tree_peaks()
    result["own_peaks"] = {str(pid): peak for pid, peak in peaks.items()}
    result["own_kinds"] = {str(pid): k for pid, k in kinds.items()}
    with open(args.result, "w") as f:
        json.dump(result, f, indent=1, default=str)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
