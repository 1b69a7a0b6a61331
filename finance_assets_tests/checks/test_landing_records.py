"""The independent record count of landing files agrees with the strict parser everywhere:
on random CSV text and bytes, on the hostile corpus and on generated drops, whatever the
block size (records crossing blocks, quotes crossing blocks)."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance_assets.bronze.csv_parser import parse_bytes
from finance_assets.checks.landing_records import count_data_records
from finance_assets_tests.bronze.test_arrow_parser import (
    COLUMNS,
    CORPUS,
    LARGE,
    _generated,
    csv_files,
)

BLOCKS = st.sampled_from([1 << 20, 1, 2, 3, 7, 64])


def strict_rows(data: bytes, columns=COLUMNS) -> int:
    return len(parse_bytes(data, columns))


def counted(data: bytes, block_bytes: int = 1 << 20) -> int:
    return count_data_records(io.BytesIO(data), block_bytes)


@pytest.mark.parametrize(
    ("data", "rows"),
    [
        (b"", 0),
        (b"a,b\n", 0),
        (b"a,b\n1,2", 1),
        (b"\xef\xbb\xbfa,b\r\n1,2\r\n\r\n  \r\n3,4\r\n", 2),
        (b'a,b\n"x\ny",2\n3,4\n', 2),  # a newline inside quotes
        (b'a,b\n"x""y",2\n', 1),  # a doubled quote
        (b'a,b\nx"y,2\n3,"4\n', 2),  # a stray quote inside a bare field; an unclosed one
        (b'a,b\n"x"y,2\n3,4\n', 2),  # text after a closing quote ends the record with its line
        (b'a,b\n"unterminated,2\n3,4\n5,6', 1),  # the rest of the file is one record
        (b"a,b\r1,2\r3,4", 2),  # CR line ends
        (b"a,b\n\xc2\xa0\n\xe3\x80\x80\t\n1,2\n", 1),  # blank lines of non-ASCII whitespace
        (b'a,b\n""\n', 1),  # an empty quoted field is a record
    ],
)
def test_counts_what_the_contract_calls_data_records(data, rows):
    assert strict_rows(data) == rows  # the reference agrees with the expectation
    for block_bytes in (1 << 20, 1, 2, 5):
        assert counted(data, block_bytes) == rows, block_bytes


@pytest.mark.parametrize("name", sorted(set(CORPUS) - LARGE))
def test_every_file_of_the_parser_corpus(name):
    data, columns = CORPUS[name]
    expected = strict_rows(data, columns)
    for block_bytes in (1 << 20, 3, 64):
        assert counted(data, block_bytes) == expected, block_bytes


@pytest.mark.parametrize("name", sorted(LARGE))
def test_large_files_of_the_parser_corpus(name):
    data, columns = CORPUS[name]
    assert counted(data) == strict_rows(data, columns)
    assert counted(data, 4096) == strict_rows(data, columns)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=csv_files(), block_bytes=BLOCKS)
def test_random_csv_text(data, block_bytes):
    assert counted(data, block_bytes) == strict_rows(data)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.sampled_from(
            [b"a", b",", b'"', b'""', b"\n", b"\r", b"\r\n", b" ", b"\t", b"x", b"a,b,c\n"]
            + [b"\xff", b"\xc2\xa0", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\xc2\x85", b"\x00"]
        ),
        max_size=60,
    ).map(b"".join),
    block_bytes=BLOCKS,
)
def test_random_bytes(data, block_bytes):
    assert counted(data, block_bytes) == strict_rows(data)


def test_generated_drops(tmp_path):
    for path, columns in _generated(tmp_path, orders_per_day=2000):
        data = path.read_bytes()
        assert counted(data) == strict_rows(data, columns), path.name
        assert counted(data, 1000) == strict_rows(data, columns), path.name
