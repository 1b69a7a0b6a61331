"""The Arrow bronze parser gives exactly the strict Python parser's rows (contract 1 and 2).

Both parsers run on the same bytes and their bronze batches are compared field for field,
``_source_row``, ``_rescued_data`` and ``_corrupt_record`` included: every hostile input of
the parser and reliability tests, more edge cases, generated dirty drops, and random CSV
text from Hypothesis, each also cut into tiny segments so that a file read piece by piece
is covered too. Further tests prove that the fast path is really taken for generated drops
(so the speed is not lost to a silent fallback), that the files it cannot reproduce go to
the strict parser for the stated reason, and that the Spark task functions use it.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance_assets.bronze import arrow_parser, transforms
from finance_assets.bronze.arrow_parser import (
    SEGMENT_BYTES,
    ParseReport,
    bronze_arrow_schema,
    parse_file,
)
from finance_assets.contract import BUDGETS, DATASETS, EXPENSES, ORDERS, PAYMENTS
from finance_assets.landing.generate import GenerateConfig, generate
from finance_assets_tests.bronze.test_csv_parser import HEADER, REQUIRED, ROW_1, ROW_2
from finance_assets_tests.reliability import test_hostile as hostile

URI = "file:///landing/orders/2024-01-02/drop.csv"
DAY = date(2024, 1, 2)
SMALL_SEGMENTS = (1, 7, 64)


def strict_table(data: bytes, columns: tuple[str, ...]) -> pa.Table:
    """The reference: the strict Python parser as the Spark tasks ran it."""
    schema = bronze_arrow_schema(columns)
    batches = transforms._parse_stream(io.BytesIO(data), URI, DAY, columns, schema)
    return pa.Table.from_batches(list(batches), schema=schema)


def arrow_table(
    data: bytes,
    columns: tuple[str, ...],
    segment_bytes: int = SEGMENT_BYTES,
    report: ParseReport | None = None,
    as_bytes: bool = False,
) -> pa.Table:
    source = data if as_bytes else io.BytesIO(data)
    batches = list(
        parse_file(source, URI, DAY, columns, report=report, segment_bytes=segment_bytes)
    )
    schema = bronze_arrow_schema(columns)
    for batch in batches:
        assert batch.schema.equals(schema, check_metadata=True)
        assert 0 < batch.num_rows <= arrow_parser.BATCH_ROWS
    return pa.Table.from_batches(batches, schema=schema)


def assert_same(
    data: bytes,
    columns: tuple[str, ...] = REQUIRED,
    segment_bytes: int = SEGMENT_BYTES,
    as_bytes: bool = False,
) -> ParseReport:
    """Both parsers give the same rows in the same order; returns how the fast one ran."""
    expected = strict_table(data, columns)
    report = ParseReport()
    got = arrow_table(data, columns, segment_bytes, report, as_bytes)
    if not got.equals(expected):
        for number, (want, have) in enumerate(
            zip(expected.to_pylist(), got.to_pylist(), strict=False), start=1
        ):
            assert have == want, f"bronze row {number} differs"
        assert got.num_rows == expected.num_rows
        pytest.fail("the tables differ")  # types or chunking the row dicts cannot show
    assert report.fast_rows + report.strict_rows == expected.num_rows
    return report


# --- hostile inputs ------------------------------------------------------------------------

ORDERS_HEADER = hostile.ORDERS_HEADER.encode()
WIDE = ",".join(str(i) for i in range(10_000))


def _corpus() -> dict[str, tuple[bytes, tuple[str, ...]]]:
    """Every hostile input of test_csv_parser and test_reliability_hostile, and more."""
    text: dict[str, str | bytes] = {
        # test_csv_parser
        "bom": b"\xef\xbb\xbf" + f"{HEADER}\n{ROW_1}\n".encode(),
        "lf": f"{HEADER}\n{ROW_1}\n{ROW_2}\n",
        "crlf": f"{HEADER}\r\n{ROW_1}\r\n{ROW_2}\r\n",
        "mixed-no-final-newline": f"{HEADER}\r\n{ROW_1}\n{ROW_2}",
        "bom-crlf-titled-header": "\ufeffOrder ID,Order Date,Customer ID,Product Category,"
        f"Order Amount,Order Status\r\n{ROW_1}\r\n",
        "quoted-commas-quotes-newlines": (
            f"{HEADER}\n"
            '1,2024-01-05,C1,"Home, Garden",10.00,COMPLETED\n'
            '2,2024-01-05,C2,"Note ""quoted""",5,PENDING\n'
            '3,2024-01-05,C3,"two\nlines",7,PENDING\n'
            '4,2024-01-05,C4,"crlf\r\ninside",8,PENDING\r\n'
            '5,2024-01-05,C5,"blank\n\nline, inside",9,PENDING\n'
            '"6","2024-01-05","C6","",  "1" ,PENDING\n'
            f"{ROW_2}\n"
        ),
        "blank-lines": f"\n\r\n{HEADER}\n\n{ROW_1}\r\n\r\n\n{ROW_2}\n\n\n",
        "whitespace-lines": f"{HEADER}\n   \n{ROW_1}\n\t \r\n{ROW_2}\n  \n",
        "empty-fields": f"{HEADER}\n,,,,,\n{ROW_1}\n",
        "header-spellings": " Order ID ,ORDER-DATE,Customer_Id,  product category,"
        f"Order-Amount ,\tOrder Status\n{ROW_1}\n",
        "column-order": "order_status,order_amount,product_category,customer_id,order_date,"
        "order_id\nCOMPLETED,10.00,Books,C1,2024-01-05,1\n",
        "extra-columns": f'Region,{HEADER},note\nEU,{ROW_1},"a, ""b"""\n,{ROW_2},\n',
        "extra-non-ascii": f"{HEADER},Notiz\n{ROW_1},café ☕\n",
        "duplicate-header": f"order_id,Order ID,{','.join(REQUIRED[1:])}\n"
        "1,99,2024-01-05,C1,Books,10.00,COMPLETED\n",
        "duplicate-extras": f"{HEADER},note,Note\n{ROW_1},a,b\n",
        "missing-column": "order_id,order_date,customer_id,product_category,order_status\n"
        "1,2024-01-05,C1,Books,COMPLETED\n2,2024-01-06,C2,Toys,x\n",
        "misspelt-header": "order_id,order_date,customer_id,product_category,order_amt,"
        f"order_status\n{ROW_1}\n",
        "short-and-long-rows": f"{HEADER}\r\n1,2024-01-05,C1\r\n{ROW_1},extra\r\n"
        f'3,"two\nlines",C3\r\n{ROW_2}\r\n',
        "single-field-row": f"{HEADER}\nhello\n{ROW_1}\n",
        "width-with-missing-columns": "order_id,order_date,customer_id\n1,2024-01-05,C1\n"
        "1,2024-01-05,C1,Books\n",
        "non-utf8": f"{HEADER}\n".encode()
        + b"1,2024-01-05,C1,Caf\xe9,10.00,COMPLETED\n"
        + b'2,2024-01-05,C2,"quoted \xff\xfe",5,PENDING\n'
        + f"{ROW_2}\n".encode(),
        "0-byte": b"",
        "bom-only": b"\xef\xbb\xbf",
        "blank-only": b"\n\n\r\n",
        "header-no-newline": HEADER,
        "header": f"{HEADER}\n",
        "header-blanks": f"{HEADER}\r\n\r\n\n",
        "bom-header": b"\xef\xbb\xbf" + f"{HEADER}\r\n".encode(),
        "1mb-fields": f"{HEADER}\n1,2024-01-05,C1,{'x' * (1 << 20)},10.00,COMPLETED\n"
        f'2,2024-01-05,C2,"{("a,b" + chr(10)) * (1 << 18)}",5,X\n',
        "10000-column-row": f"{HEADER}\n{WIDE}\n{ROW_1}\n",
        "ragged-rows-with-3mb-fields": f'{HEADER}\n1,2,"{"y" * (3 << 20)}\n,"\n{ROW_1}\n'
        f"1,{'z' * (3 << 20)}\n",
        "unclosed-quote-swallows-rest": f"{HEADER}\n{ROW_1}\n"
        f'3,2024-01-05,C3,"Books,10,COMPLETED\n{ROW_2}\n',
        "unclosed-quote-last-field": f'{HEADER}\n{ROW_1}\n3,2024-01-05,C3,Books,10,"COMPLETED\n',
        "unclosed-quote-no-newline": f'{HEADER}\n{ROW_1}\n3,2024-01-05,C3,Books,10,"COMPLETED',
        # more edge cases
        "lone-cr": f"{HEADER}\r{ROW_1}\r\r{ROW_2}\r1,2\r",
        "cr-inside-quotes": f'{HEADER}\n1,2024-01-05,C1,"a\rb\r",10.00,COMPLETED\n1,"x\r",C1\n',
        "final-cr": f"{HEADER}\n{ROW_1}\r",
        "unicode-line-separators": f"{HEADER},note\n{ROW_1},a\u2028b\x85c\u2029\n"
        f'{ROW_2},"\u2028"\n\u2028\n\x85\r\n\u3000\x1c\n{ROW_1},\x0b\x0c\n',
        "text-after-closing-quote": f'{HEADER}\n{ROW_1}\n1,2024-01-05,C1,"Books"x,1,A\n{ROW_2}\n',
        "space-after-closing-quote": f'{HEADER}\n1,2024-01-05,C1,"Books" ,1,A\n{ROW_2}\n',
        "stray-quote-in-field": f'{HEADER}\n1,2024-01-05,C1,Bo"oks,1,A\n{ROW_2}\n',
        "stray-quotes-pair": f'{HEADER}\n1,2024-01-05,C1,Bo"o"ks,1,A\n{ROW_2}\n',
        "quote-only-row": f'{HEADER}\n""\n"\n"\n{ROW_1}\n',
        "escaped-quotes-everywhere": f'{HEADER},note\n"1","2""","""","""a""b""","",""",",""""""\n',
        "ragged-quoted-newline": f'{HEADER}\n1,"a\r\nb",C\r\n{ROW_1},"x\ny",z\n',
        "wide-header": f"{HEADER},{WIDE}\n{ROW_1},{WIDE}\n{ROW_2}\n{ROW_1},{WIDE}\n",
        "empty-and-duplicate-names": f",{HEADER}, ,order_id,Order-ID,_c0,note,NOTE, note\n"
        f",{ROW_1},a,b,c,d,e,f,g\nx,{ROW_2},,,,,,,\n",
        "json-escapes": f"{HEADER},note,more\n"
        + f'{ROW_1},"back\\slash ""q"" \t\x01\x1f\x7f\b\f",\u2028é😀\n'
        + f'{ROW_2},"\r\n\n\r","\\u0041"\n',
        "bom-in-data-row": f"{HEADER}\n\ufeff{ROW_1}\n\ufeff\n{ROW_2}\n",
        "bom-starting-body": f"{HEADER}\n\ufeff1,2024-01-05,C1,Books,10.00,COMPLETED\n",
        "double-bom": b"\xef\xbb\xbf\xef\xbb\xbf" + f"{HEADER}\n{ROW_1}\n".encode(),
        "nul-byte": f"{HEADER}\n{ROW_1}\n1,2,3,4,5,\x00\n\x00\n",
        "blank-before-header": f" \n\t\n\r\n\u2028\n{HEADER}\n{ROW_1}\n",
        "quoted-header-with-newline": f'"order\nid",{",".join(REQUIRED)}\n9,{ROW_1}\n',
        "one-column-header": "order_id\n1\n  \n2,3\n\n",
        "all-empty-header": ", ,\n1,2,3\n",
        "trailing-comma": f"{HEADER},\n{ROW_1},\n{ROW_1}\n",
        "surrogate-and-overlong-bytes": f"{HEADER}\n".encode()
        + b"1,2024-01-05,C1,\xed\xa0\x80,1,A\n1,2,C1,\xc0\x80,1,A\n1,2,3,\xf4\x90\x80\x80,1,A\n"
        + f"{ROW_2}\n".encode(),
        "truncated-utf8-in-short-row": f"{HEADER}\n".encode() + b"1,\xe2\x82\n" + ROW_1.encode(),
        "bad-bytes-in-header-only": b"order_id,\xff\xfe,"
        + ",".join(REQUIRED[1:]).encode()
        + f"\n1,x,{ROW_1[2:]}\n".encode(),
    }
    corpus = {
        name: (value if isinstance(value, bytes) else value.encode("utf-8"), REQUIRED)
        for name, value in text.items()
    }
    # test_reliability_hostile
    every_reason, _ = hostile._orders_every_reason()
    corpus["hostile-every-reason"] = (every_reason.encode(), ORDERS.columns)
    no_status = ",".join(hostile.ORDERS_HEADER.split(",")[:-1])
    corpus["hostile-no-status"] = (
        f"{no_status}\n20,{hostile.DAY},C1,Books,1.00\n21,{hostile.DAY},C1,Books,2.00\n".encode(),
        ORDERS.columns,
    )
    corpus["hostile-binary"] = (hostile._binary(), ORDERS.columns)
    corpus["hostile-header-only"] = (ORDERS_HEADER + b"\r\n", ORDERS.columns)
    big = "x" * hostile.MB
    corpus["hostile-big-field"] = (
        f'{hostile.ORDERS_HEADER}\n30,{hostile.DAY},C1,"{big}",1.00,COMPLETED\n'
        f"31,{hostile.DAY},C1,Books,{'9' * hostile.MB},PENDING\n".encode(),
        ORDERS.columns,
    )
    corpus["hostile-latin1"] = (
        f"{hostile.ORDERS_HEADER}\n40,{hostile.DAY},C1,Books,1.00,COMPLETED\n".encode()
        + f"41,{hostile.DAY},C1,Caf\xe9,1.00,COMPLETED\n".encode("latin-1")
        + f"42,{hostile.DAY},C1,Books,1.00,COMPLETED\n".encode(),
        ORDERS.columns,
    )
    wide = ",".join(["1"] * 10_000)
    corpus["hostile-wide"] = (
        f"{hostile.ORDERS_HEADER}\n50,{hostile.DAY},C1,Books,1.00,COMPLETED\n{wide}\n"
        f"51,{hostile.DAY},C1,Books,1.00,PENDING\n".encode(),
        ORDERS.columns,
    )
    for dataset, (header, rows) in (
        (PAYMENTS, hostile.PAYMENTS),
        (EXPENSES, hostile.EXPENSES),
        (BUDGETS, hostile.BUDGETS),
    ):
        data, _ = hostile._simple(header, rows)
        corpus[f"hostile-{dataset.name}"] = (data.encode(), dataset.columns)
        first_row = rows[0][0].rsplit(",", 1)[0]
        lacks = header.rsplit(",", 1)[0] + "\n" + first_row + "\n"
        corpus[f"hostile-{dataset.name}-lacks-a-column"] = (lacks.encode(), dataset.columns)
    return corpus


CORPUS = _corpus()
LARGE = {"1mb-fields", "hostile-big-field", "wide-header", "10000-column-row", "hostile-wide"}
LARGE |= {"ragged-rows-with-3mb-fields"}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_inputs_give_the_strict_parsers_rows(name):
    data, columns = CORPUS[name]
    assert_same(data, columns)
    assert_same(data, columns, as_bytes=True)


@pytest.mark.parametrize("segment_bytes", SMALL_SEGMENTS)
@pytest.mark.parametrize("name", sorted(set(CORPUS) - LARGE))
def test_hostile_inputs_read_in_tiny_segments_give_the_same_rows(name, segment_bytes):
    data, columns = CORPUS[name]
    assert_same(data, columns, segment_bytes=segment_bytes)


@pytest.mark.parametrize("name", sorted(LARGE))
def test_large_fields_and_rows_read_in_small_segments_give_the_same_rows(name):
    data, columns = CORPUS[name]
    assert_same(data, columns, segment_bytes=4096)


def test_the_corpus_exercises_the_fast_path_and_every_fallback():
    """The comparisons above would prove little if every input went to the strict parser."""
    reasons = {}
    for name, (data, columns) in CORPUS.items():
        report = ParseReport()
        arrow_table(data, columns, report=report)
        reasons[name] = report.fallback
    fast = {name for name, reason in reasons.items() if reason is None}
    # ("quoted-commas-quotes-newlines" falls back: `  "1" ` is a quote inside a field)
    assert {"extra-columns", "short-and-long-rows", "json-escapes", "escaped-quotes-everywhere",
            "unicode-line-separators", "1mb-fields", "wide-header", "10000-column-row",
            "hostile-every-reason", "hostile-wide", "bom-starting-body",
            "ragged-rows-with-3mb-fields",
            "lone-cr", "bad-bytes-in-header-only"} <= fast  # fmt: skip
    assert set(reasons.values()) == {
        None,
        "quoting",
        "not_utf8",
        "nul_byte",
        "narrow_header",
    }


# --- when it falls back --------------------------------------------------------------------

QUOTE_IN_HEADER = HEADER.replace("status", 'st"atus')
BODY = "".join(f"{n},2024-01-05,C{n},Books,{n}.00,COMPLETED\n" for n in range(1, 400))


@pytest.mark.parametrize(
    ("reason", "data"),
    [
        ("quoting", f'{HEADER}\n{BODY}1,2024-01-05,C1,"Books"x,1,A\n{ROW_2}\n'.encode()),
        ("quoting", f'{HEADER}\n{BODY}1,2024-01-05,C1,Bo"oks,1,A\n{ROW_2}\n'.encode()),
        ("quoting", f'{HEADER}\n{BODY}1,2024-01-05,C1,"Books\n{ROW_2}\n'.encode()),
        ("quoting", f"{QUOTE_IN_HEADER}\n{BODY}".encode()),
        ("not_utf8", f"{HEADER}\n{BODY}".encode() + b"1,2024-01-05,C1,Caf\xe9,1,A\n"),
        ("nul_byte", f"{HEADER}\n{BODY}1,2024-01-05,C1,\x00,1,A\n".encode()),
        ("narrow_header", f"order_id\n{BODY}".encode()),
    ],
    ids=[
        "text-after-quote",
        "quote-in-field",
        "unclosed-quote",
        "quote-in-header",
        "not-utf8",
        "nul",
        "one-column",
    ],
)
def test_what_arrow_would_read_differently_goes_to_the_strict_parser(reason, data):
    report = assert_same(data)
    assert report.fallback == reason
    assert report.fast_rows == 0 and report.strict_rows > 0


def test_a_segment_as_long_as_the_csv_field_limit_goes_to_the_strict_parser():
    """A field of csv's field size limit or longer is a corrupt record to the strict parser
    (the limit is 1 GiB in production; lowered here to keep the test small)."""
    data = f"{HEADER}\n{ROW_1}\n1,2024-01-05,C1,{'x' * 3000},1,A\n{ROW_2}\n".encode()
    limit = csv.field_size_limit(2000)
    try:
        report = assert_same(data)
        assert strict_table(data, REQUIRED).column("_corrupt_record").null_count == 2
    finally:
        csv.field_size_limit(limit)
    assert report.fallback == "segment_too_large"


def test_a_late_problem_hands_over_only_the_rest_of_the_file():
    data = f'{HEADER}\n{BODY}{BODY}1,2024-01-05,C1,"Books"x,1,A\n{BODY}{ROW_2}\n'.encode()
    report = assert_same(data, segment_bytes=4096)
    assert report.fallback == "quoting"
    assert report.fast_rows > 0 and report.strict_rows > 0
    assert report.fallback_row == report.fast_rows + 1


def test_segments_are_cut_between_records_not_inside_quoted_newlines():
    rows = "".join(f'{n},2024-01-05,C{n},"a\nb\r\n,""c""\n",1.00,X\r\n' for n in range(300))
    for segment_bytes in (16, 100, 1000):
        report = assert_same(f"{HEADER}\r\n{rows}".encode(), segment_bytes=segment_bytes)
        assert report.fast and report.fast_rows == 300, segment_bytes


def test_the_file_is_read_a_segment_at_a_time():
    data = f"{HEADER}\n{BODY * 20}".encode()

    class Tracked(io.BytesIO):
        most = 0

        def read(self, size=-1):
            chunk = super().read(size)
            Tracked.most = max(Tracked.most, self.tell())
            return chunk

    stream = Tracked(data)
    batches = parse_file(stream, URI, DAY, REQUIRED, segment_bytes=16 * 1024)
    first = next(batches)
    assert Tracked.most < 64 * 1024 < len(data)
    assert first.num_rows + sum(b.num_rows for b in batches) == 20 * 399


# --- generated drops -----------------------------------------------------------------------


def _generated(root: Path, **config) -> list[tuple[Path, tuple[str, ...]]]:
    generate(str(root), GenerateConfig(start=date(2024, 1, 30), end=date(2024, 2, 1), **config))
    files = sorted(root.rglob("*.csv"))
    assert files
    return [(f, DATASETS[f.relative_to(root).parts[0]].columns) for f in files]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dirty_generated_drops_give_the_same_rows_on_the_fast_path(tmp_path, seed):
    files = _generated(tmp_path, orders_per_day=400, dirty_rate=0.3, seed=seed)
    corrupt = rescued = 0
    for path, columns in files:
        data = path.read_bytes()
        report = assert_same(data, columns)
        assert report.fast, f"{path.name} fell back ({report.fallback})"
        assert report.strict_rows == 0
        assert assert_same(data, columns, segment_bytes=2048).fast
        table = arrow_table(data, columns)
        corrupt += table.column("_corrupt_record").null_count != table.num_rows
        rescued += table.column("_rescued_data").null_count != table.num_rows
    # the drops really hold malformed rows and extra columns
    assert corrupt and rescued


def test_default_generated_drops_take_the_fast_path(tmp_path):
    files = _generated(tmp_path, orders_per_day=3000)
    rows = 0
    for path, columns in files:
        report = assert_same(path.read_bytes(), columns)
        assert report.fast and report.strict_rows == 0, path.name
        rows += report.fast_rows
    assert rows > 3 * 3000


# --- random CSV text -----------------------------------------------------------------------

COLUMNS = ("a", "b", "c")
NAMES = ["a", "A", " b ", "c", "c", "", " ", "x-y", "x y", "é", "\ufeffa", '"a"', "a,b"]
PIECES = ["x", "1", " ", "\t", ",", '"', '""', "\n", "\r", "\r\n", "é", "\u2028", "\x85"]
PIECES += ["\ufeff", "\\", "\x01", "\x0b", "😀", "{}", "\u3000"]
BAD_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"\xe2\x82", b"\x00", b'"', b"\r"]


SPACES = [" ", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\u00a0", "\u2028", "\u3000"]


def _field(draw) -> str:
    """A field quoted as a writer would, bare without quotes (commas and line ends still
    split it), or its characters left bare whatever they are."""
    text = "".join(draw(st.lists(st.sampled_from(PIECES), max_size=4)))
    style = draw(st.sampled_from(["quoted", "quoted", "bare", "bare", "raw"]))
    if style == "quoted":
        return '"' + text.replace('"', '""') + '"'
    return text.replace('"', "") if style == "bare" else text


def _field_of(name: str) -> str:
    return '"' + name.replace('"', '""') + '"' if any(c in name for c in ',"\r\n') else name


@st.composite
def csv_files(draw) -> bytes:
    """CSV text with random quoting, blank lines, line ends, ragged rows and bad bytes."""
    width = draw(st.sampled_from([1, 2, 3, 3, 4, 5]))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=width, max_size=width))
    lines = [",".join(_field_of(n) for n in names)]
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["row"] * 5 + ["blank", "spaces", "ragged"]))
        if kind == "blank":
            lines.append("")
        elif kind == "spaces":
            lines.append("".join(draw(st.lists(st.sampled_from(SPACES), min_size=1, max_size=3))))
        else:
            count = width if kind == "row" else draw(st.integers(1, width + 2))
            lines.append(",".join(_field(draw) for _ in range(count)))
    ends = [draw(st.sampled_from(["\n", "\r\n", "\r"])) for _ in lines]
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    if draw(st.booleans()):
        text = text[: -len(ends[-1])]
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:]
    return data


SEGMENTS = st.sampled_from([SEGMENT_BYTES, 1, 2, 5, 16])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=csv_files(), segment_bytes=SEGMENTS)
def test_random_csv_text_gives_the_same_rows(data, segment_bytes):
    assert_same(data, COLUMNS, segment_bytes=segment_bytes)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.sampled_from(
            [b"a", b"b", b"c", b",", b'"', b"\n", b"\r", b" ", b"\t", b"x", b"a,b,c\n"]
            + [b"\xff", b"\xc3\xa9", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\xc2\x85", b"\\"]
        ),
        max_size=40,
    ).map(b"".join),
    segment_bytes=SEGMENTS,
)
def test_random_bytes_give_the_same_rows(data, segment_bytes):
    assert_same(data, COLUMNS, segment_bytes=segment_bytes)


@settings(max_examples=150, deadline=None)
@given(data=csv_files())
def test_random_csv_text_with_clean_quoting_takes_the_fast_path(data):
    """Text without stray quotes, bad bytes or NUL and with a 2+ column header is never
    handed to the strict parser: the fallback is for what Arrow cannot reproduce only."""
    report = assert_same(data, COLUMNS)
    if report.fallback is None:
        return
    text = data.removeprefix(b"\xef\xbb\xbf")
    header_width = len(strict_header_fields(text))
    assert (
        not arrow_parser._strict_quotes(text)
        or b"\x00" in text
        or not _utf8(text)
        or header_width < 2
    ), report.fallback


def strict_header_fields(data: bytes) -> list[str]:
    found = arrow_parser._read_header(data)
    return [] if found is None or found[0] is None else found[0]


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- the Spark task functions --------------------------------------------------------------


def test_spark_task_functions_parse_with_arrow_and_match_the_strict_parser(tmp_path, monkeypatch):
    files = _generated(tmp_path, orders_per_day=300, dirty_rate=0.3)
    orders = [(p, c) for p, c in files if "/orders/" in p.as_posix()]
    uris = [p.resolve().as_uri() for p, _ in orders]
    days = [date.fromisoformat(p.parent.name) for p, _ in orders]
    listing = pa.record_batch([pa.array(uris), pa.array(days, pa.date32())], names=["uri", "day"])
    contents = pa.record_batch(
        [
            pa.array(["file:" + p.resolve().as_posix() for p, _ in orders]),
            pa.array([p.read_bytes() for p, _ in orders], pa.binary()),
        ],
        names=["path", "content"],
    )
    by_uri = dict(zip(uris, days, strict=True))
    schema = transforms._arrow_schema(ORDERS)

    def run(parse, batch) -> pa.Table:
        return pa.Table.from_batches(list(parse(iter([batch]))), schema=schema)

    strict = run(transforms.file_parser(ORDERS, None, parser="python"), listing)
    strict_native = run(transforms.content_parser(ORDERS, by_uri, parser="python"), contents)
    assert strict.num_rows > 900 and strict_native.equals(strict)

    calls = []
    real = arrow_parser.parse_file
    monkeypatch.setattr(
        arrow_parser, "parse_file", lambda *a, **k: calls.append(a[1]) or real(*a, **k)
    )

    def no_strict(*args, **kwargs):
        raise AssertionError("the strict parser ran for a file the fast path reads")

    monkeypatch.setattr(transforms, "_parse_stream", no_strict)
    monkeypatch.setattr(arrow_parser, "parse_records", no_strict)
    assert run(transforms.file_parser(ORDERS, None), listing).equals(strict)
    assert run(transforms.content_parser(ORDERS, by_uri), contents).equals(strict)
    assert calls == uris + uris


def test_an_unknown_parser_name_is_refused():
    with pytest.raises(ValueError, match="unknown bronze parser"):
        transforms.file_parser(ORDERS, None, parser="pandas")
