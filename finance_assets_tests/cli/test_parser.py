"""The command line explains itself: every subcommand and option has help, ``--version``
works, and every bad argument or environment value is one line naming it, the value and
what is expected, with exit code 2 and no traceback (before anything is read or written)."""

from __future__ import annotations

import argparse
import json

import pytest

from finance_assets.cli import build_parser, main


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_subcommand_and_option_has_help():
    parser = build_parser()
    missing = []
    helps = {a.dest: a.help for a in parser._actions}
    missing += [f"finance-assets {d}" for d, h in helps.items() if not h and d != "command"]
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    described = {choice.dest: choice.help for choice in action._choices_actions}
    for name, sub in _subcommands(parser).items():
        if not described.get(name) or not sub.description:
            missing.append(f"{name}: no help or description")
        for option in sub._actions:
            if not option.help or option.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(option.option_strings) or option.dest}")
    assert not missing, missing


def test_dates_say_their_format():
    for name in ("materialize", "generate", "quarantine"):
        sub = _subcommands(build_parser())[name]
        start = next(a for a in sub._actions if "--start" in a.option_strings)
        assert start.metavar == "YYYY-MM-DD" and "2024-01-31" in start.help


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("finance-assets ")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *named: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error:" in lines[0]
    for text in named:
        assert text in lines[0], (text, lines[0])


GENERATE = ["generate", "--landing", "unused-landing"]
RANGE = ["--start", "2024-01-01", "--end", "2024-01-02"]
BAD_ARGUMENTS = [
    (["generate", "--start", "2024-01-05", "--end", "2024-01-01"], ["2024-01-01", "before"]),
    ([*GENERATE, *RANGE, "--orders-per-day", "0"], ["--orders-per-day", "0", "at least 1"]),
    ([*GENERATE, *RANGE, "--orders-per-day", "-5"], ["--orders-per-day", "-5", "at least 1"]),
    ([*GENERATE, *RANGE, "--orders-per-day", "many"], ["--orders-per-day", "many"]),
    ([*GENERATE, *RANGE, "--files-per-folder", "0"], ["--files-per-folder", "0", "at least 1"]),
    ([*GENERATE, *RANGE, "--dirty-rate", "1.5"], ["--dirty-rate", "1.5", "between 0 and 1"]),
    ([*GENERATE, *RANGE, "--dirty-rate", "-0.1"], ["--dirty-rate", "-0.1", "between 0 and 1"]),
    ([*GENERATE, "--start", "2024-13-01", "--end", "2024-01-02"], ["2024-13-01", "YYYY-MM-DD"]),
    (
        ["materialize", "--landing", "l", "--lake", "k", "--start", "01/02/2024", "--end", "x"],
        ["01/02/2024", "YYYY-MM-DD"],
    ),
    (
        [
            "materialize",
            "--landing",
            "l",
            "--lake",
            "k",
            "--start",
            "2024-01-05",
            "--end",
            "2024-01-01",
        ],
        ["--end 2024-01-01", "before --start 2024-01-05"],
    ),
    (["materialize", *RANGE], ["--landing", "--lake", "FINANCE_LANDING_URI"]),
    (
        ["materialize", "--landing", "l", "--lake", "k", *RANGE, "--quiet", "--json"],
        ["--json", "--quiet"],
    ),
    (["quarantine", "--limit", "0"], ["--limit", "0", "at least 1"]),
    (["no-such-command"], ["no-such-command"]),
]


@pytest.mark.parametrize(("argv", "named"), BAD_ARGUMENTS, ids=lambda v: " ".join(v)[:60])
def test_a_bad_argument_is_one_line_and_exit_2(argv, named, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FINANCE_LANDING_URI", raising=False)
    monkeypatch.delenv("FINANCE_LAKE_URI", raising=False)
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, *named)
    assert not any(tmp_path.iterdir()), "nothing may be written"


BAD_ENVIRONMENT = [
    ("FINANCE_SPARK_SHUFFLE_PARTITIONS", "0", "greater than or equal to 1"),
    ("FINANCE_TIMEZONE", "Mars/Olympus", "IANA time zone"),
    ("FINANCE_PARTITIONS_START", "2024-02-30", "real calendar date"),
    ("FINANCE_SPARK_MODE", "cluster", "'local', 'connect' or 'databricks'"),
    ("AWS_MAX_ATTEMPTS", "zero", "integer"),
    ("AWS_RETRY_MODE", "sometimes", "'legacy', 'standard' or 'adaptive'"),
    ("FINANCE_S3_VERIFY", "maybe", "boolean"),
    ("FINANCE_ALERT_WEBHOOK_URL", "ftp://hooks.example/x", "http:// or https://"),
]


@pytest.mark.parametrize("command", ["materialize", "generate"])
@pytest.mark.parametrize(("variable", "value", "expected"), BAD_ENVIRONMENT)
def test_a_bad_environment_value_is_one_line_and_exit_2(
    command, variable, value, expected, capsys, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    argv = [command, "--landing", str(tmp_path / "landing"), *RANGE]
    if command == "materialize":
        argv += ["--lake", str(tmp_path / "lake")]
    code, _, err = run(argv, capsys)
    shown = [variable] if variable == "FINANCE_ALERT_WEBHOOK_URL" else [variable, value]
    assert_one_line_error(code, err, *shown, expected)
    assert not any(tmp_path.iterdir()), "nothing may be written"


def test_json_mode_reports_a_usage_error_as_json(capsys, tmp_path):
    argv = ["materialize", "--landing", str(tmp_path / "none"), "--lake", str(tmp_path / "k")]
    code, out, err = run([*argv, *RANGE, "--json"], capsys)
    assert_one_line_error(code, err, str(tmp_path / "none"), "nothing was written")
    summary = json.loads(out)
    assert summary["status"] == "error" and summary["exit_code"] == 2
    assert str(tmp_path / "none") in summary["error"]


@pytest.mark.parametrize(
    "argv",
    [
        ["quarantine"],
        ["quarantine", "--summary"],
        ["sql", "monthly_pnl"],
        ["sql", "--query", "SELECT 1"],
    ],
)
def test_reading_a_lake_that_does_not_exist_says_so(argv, capsys, tmp_path):
    missing = tmp_path / "no-such-lake"
    code, out, err = run([*argv, "--lake", str(missing)], capsys)
    assert_one_line_error(code, err, str(missing), "does not exist")
    assert "No quarantined rows match" not in out + err


def test_an_existing_lake_without_quarantine_tables_has_no_rows(capsys, tmp_path):
    code, _, err = run(["quarantine", "--lake", str(tmp_path)], capsys)
    assert code == 0 and "No quarantined rows match" in err
