"""Benchmarks: figures measured side by side with baselines."""


def register_commands(commands) -> None:
    """Add the ``bench`` subcommand to the CLI's subparsers."""
