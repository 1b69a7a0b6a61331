"""``finance-assets close`` and ``reopen``: mark a month's books closed in the lake, or open
them again (recorded, with who and why)."""

from __future__ import annotations

import sys
from pathlib import Path

from finance_assets.lake import closing
from finance_assets.lake.delta import DeltaRsLake
from finance_assets.settings import Settings

EXIT_OK, EXIT_USAGE = 0, 2

CLOSE_EPILOG = """\
From then on no run changes a gold value of that month: late data for it lands in silver and
waits (the gold step fails its blocking check closed_months_unchanged, naming the values,
and alerts) until the month is reopened with finance-assets reopen. Who closed it comes from
FINANCE_USER, else the operating-system user."""


def add_parsers(commands) -> None:
    close = commands.add_parser(
        "close",
        help="close a month: no run may change its gold values until it is reopened",
        description="Mark a month as closed in the lake (or list closes with --list).",
        epilog=CLOSE_EPILOG,
    )
    close.add_argument("month", nargs="?", help="the month, YYYY-MM")
    close.add_argument("--note", help="why (recorded with the close)")
    close.add_argument("--lake", help="lake folder (default: FINANCE_LAKE_URI, then data/lake)")
    close.add_argument("--list", action="store_true", help="list every close and reopen")
    close.set_defaults(handler=cmd_close)

    reopen = commands.add_parser(
        "reopen",
        help="reopen a closed month, so the next run can update it (recorded)",
        description=(
            "Reopen a closed month. The next run brings its gold values up to date with the "
            "data that waited, and records what changed in gold/restatements."
        ),
    )
    reopen.add_argument("month", help="the month, YYYY-MM")
    reopen.add_argument("--note", help="why (recorded with the reopen)")
    reopen.add_argument("--lake", help="lake folder (default: FINANCE_LAKE_URI, then data/lake)")
    reopen.set_defaults(handler=cmd_reopen)


def _lake(args) -> tuple[Settings, DeltaRsLake]:
    settings = Settings.load(lake_uri=args.lake)
    root = settings.lake_uri
    lake = DeltaRsLake(root)
    if not Path(lake.root).is_dir():
        raise closing.ClosingError(f"no lake at {root!r}: give --lake or set FINANCE_LAKE_URI")
    return settings, lake


def _fail(command: str, exc: Exception) -> int:
    print(f"finance-assets {command}: error: {exc}", file=sys.stderr)
    return EXIT_USAGE


def cmd_close(args) -> int:
    try:
        settings, lake = _lake(args)
        if args.list:
            return _list(lake)
        if not args.month:
            raise closing.ClosingError("give the month to close (YYYY-MM), or --list")
        action = closing.close(
            lake, closing.parse_month(args.month), settings.acting_user, args.note
        )
    except (closing.ClosingError, ValueError) as exc:
        return _fail("close", exc)
    print(f"Closed: {action.describe()}")
    return EXIT_OK


def cmd_reopen(args) -> int:
    try:
        settings, lake = _lake(args)
        month = closing.parse_month(args.month)
        action = closing.reopen(lake, month, settings.acting_user, args.note)
    except (closing.ClosingError, ValueError) as exc:
        return _fail("reopen", exc)
    print(f"Reopened: {action.describe()}")
    print("The next run brings its gold values up to date and records what it restates.")
    return EXIT_OK


def _list(lake: DeltaRsLake) -> int:
    actions = closing.history(lake)
    if not actions:
        print("No month has been closed.")
        return EXIT_OK
    closed = closing.closed_months(lake)
    for action in actions:
        print(action.describe())
    print("Closed now: " + (", ".join(f"{m:%Y-%m}" for m in sorted(closed)) or "none"))
    return EXIT_OK
