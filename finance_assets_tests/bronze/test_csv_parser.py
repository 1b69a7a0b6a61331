"""Landing CSV files to bronze records (contract sections 1 and 2), pure Python.

Every data row of a file becomes exactly one record: the required columns as the original
strings (``None`` for a column the file lacks), extra columns as a JSON object in
``rescued``, and the raw text in ``corrupt`` when the row could not be parsed.
"""

from __future__ import annotations

import json

import pytest

from finance_assets.bronze.csv_parser import BronzeRecord, parse_bytes

REQUIRED = (
    "order_id",
    "order_date",
    "customer_id",
    "product_category",
    "order_amount",
    "order_status",
)
HEADER = ",".join(REQUIRED)
ROW_1 = "1,2024-01-05,C1,Books,10.00,COMPLETED"
ROW_2 = "2,2024-01-05,C2,Toys,5,PENDING"
VALUES_1 = ("1", "2024-01-05", "C1", "Books", "10.00", "COMPLETED")
VALUES_2 = ("2", "2024-01-05", "C2", "Toys", "5", "PENDING")


def parse(text: str | bytes) -> list[BronzeRecord]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_bytes(data, REQUIRED)


def good(source_row: int, values: tuple[str | None, ...], rescued: str | None = None):
    return BronzeRecord(source_row=source_row, values=values, rescued=rescued, corrupt=None)


def bad(source_row: int, raw: str) -> BronzeRecord:
    return BronzeRecord(
        source_row=source_row, values=(None,) * len(REQUIRED), rescued=None, corrupt=raw
    )


# --- encodings and line endings ------------------------------------------------------------


def test_utf8_bom_is_not_part_of_the_first_header_name():
    records = parse(b"\xef\xbb\xbf" + f"{HEADER}\n{ROW_1}\n".encode())
    assert records == [good(1, VALUES_1)]


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_lf_and_crlf_give_the_same_records(newline):
    text = newline.join([HEADER, ROW_1, ROW_2]) + newline
    assert parse(text) == [good(1, VALUES_1), good(2, VALUES_2)]


def test_mixed_line_endings_and_no_final_newline():
    text = f"{HEADER}\r\n{ROW_1}\n{ROW_2}"
    assert parse(text) == [good(1, VALUES_1), good(2, VALUES_2)]


def test_bom_with_crlf_and_normalized_header():
    text = "\ufeffOrder ID,Order Date,Customer ID,Product Category,Order Amount,Order Status\r\n"
    assert parse(text + ROW_1 + "\r\n") == [good(1, VALUES_1)]


# --- RFC 4180 quoting ------------------------------------------------------------------------


def test_quoted_fields_hold_commas_quotes_and_newlines():
    text = (
        f"{HEADER}\n"
        '1,2024-01-05,C1,"Home, Garden",10.00,COMPLETED\n'
        '2,2024-01-05,C2,"Note ""quoted""",5,PENDING\n'
        '3,2024-01-05,C3,"two\nlines",7,PENDING\n'
        '4,2024-01-05,C4,"crlf\r\ninside",8,PENDING\r\n'
        '5,2024-01-05,C5,"blank\n\nline, inside",9,PENDING\n'
        '"6","2024-01-05","C6","",  "1" ,PENDING\n'
        f"{ROW_2}\n"
    )
    assert parse(text) == [
        good(1, ("1", "2024-01-05", "C1", "Home, Garden", "10.00", "COMPLETED")),
        good(2, ("2", "2024-01-05", "C2", 'Note "quoted"', "5", "PENDING")),
        good(3, ("3", "2024-01-05", "C3", "two\nlines", "7", "PENDING")),
        good(4, ("4", "2024-01-05", "C4", "crlf\r\ninside", "8", "PENDING")),
        good(5, ("5", "2024-01-05", "C5", "blank\n\nline, inside", "9", "PENDING")),
        # unquoted surrounding spaces are part of the original string; silver trims them
        good(6, ("6", "2024-01-05", "C6", "", '  "1" ', "PENDING")),
        # a multi-line record counts as one row: the next row is 7, not 9 or 10
        good(7, VALUES_2),
    ]


# --- blank lines -----------------------------------------------------------------------------


def test_blank_lines_are_not_rows_and_not_counted():
    text = f"\n\r\n{HEADER}\n\n{ROW_1}\r\n\r\n\n{ROW_2}\n\n\n"
    assert parse(text) == [good(1, VALUES_1), good(2, VALUES_2)]


def test_whitespace_only_lines_are_blank():
    # "Blank lines are not rows": a line of spaces/tabs is blank (cf. str.isspace, isBlank).
    text = f"{HEADER}\n   \n{ROW_1}\n\t \r\n{ROW_2}\n  \n"
    assert parse(text) == [good(1, VALUES_1), good(2, VALUES_2)]


def test_a_line_of_empty_fields_is_a_row_not_a_blank_line():
    text = f"{HEADER}\n,,,,,\n{ROW_1}\n"
    assert parse(text) == [good(1, ("",) * 6), good(2, VALUES_1)]


# --- header matching -------------------------------------------------------------------------


def test_header_names_match_after_trim_lower_case_spaces_and_hyphens():
    header = " Order ID ,ORDER-DATE,Customer_Id,  product category,Order-Amount ,\tOrder Status"
    assert parse(f"{header}\n{ROW_1}\n") == [good(1, VALUES_1)]


def test_column_order_is_free():
    header = "order_status,order_amount,product_category,customer_id,order_date,order_id"
    row = "COMPLETED,10.00,Books,C1,2024-01-05,1"
    assert parse(f"{header}\n{row}\n") == [good(1, VALUES_1)]


def test_extra_columns_go_to_rescued_as_a_json_object():
    header = f"Region,{HEADER},note"
    text = f'{header}\nEU,{ROW_1},"a, ""b"""\n,{ROW_2},\n'
    records = parse(text)
    assert records == [
        good(1, VALUES_1, rescued='{"region": "EU", "note": "a, \\"b\\""}'),
        good(2, VALUES_2, rescued='{"region": "", "note": ""}'),
    ]
    assert json.loads(records[0].rescued) == {"region": "EU", "note": 'a, "b"'}


def test_no_extra_columns_means_rescued_is_null():
    assert parse(f"{HEADER}\n{ROW_1}\n")[0].rescued is None


def test_extra_column_with_non_ascii_text_is_valid_json():
    text = f"{HEADER},Notiz\n{ROW_1},café ☕\n"
    (record,) = parse(text)
    assert record.values == VALUES_1
    assert json.loads(record.rescued) == {"notiz": "café ☕"}


def test_duplicate_header_names_first_is_used_and_nothing_is_lost():
    header = f"order_id,Order ID,{','.join(REQUIRED[1:])}"
    (record,) = parse(f"{header}\n1,99,2024-01-05,C1,Books,10.00,COMPLETED\n")
    assert record.values == VALUES_1
    assert record.corrupt is None
    assert list(json.loads(record.rescued).values()) == ["99"]


def test_duplicate_extra_header_names_keep_every_value():
    (record,) = parse(f"{HEADER},note,Note\n{ROW_1},a,b\n")
    assert record.values == VALUES_1
    assert sorted(json.loads(record.rescued).values()) == ["a", "b"]


def test_missing_required_column_gives_none_for_that_column_only():
    header = "order_id,order_date,customer_id,product_category,order_status"
    records = parse(f"{header}\n1,2024-01-05,C1,Books,COMPLETED\n2,2024-01-06,C2,Toys,x\n")
    assert records == [
        good(1, ("1", "2024-01-05", "C1", "Books", None, "COMPLETED")),
        good(2, ("2", "2024-01-06", "C2", "Toys", None, "x")),
    ]


def test_missing_column_with_a_misspelt_header_goes_to_rescued():
    header = "order_id,order_date,customer_id,product_category,order_amt,order_status"
    (record,) = parse(f"{header}\n{ROW_1}\n")
    assert record.values == ("1", "2024-01-05", "C1", "Books", None, "COMPLETED")
    assert json.loads(record.rescued) == {"order_amt": "10.00"}


# --- corrupt rows ----------------------------------------------------------------------------


def test_short_and_long_rows_are_corrupt_with_their_raw_text():
    text = f'{HEADER}\r\n1,2024-01-05,C1\r\n{ROW_1},extra\r\n3,"two\nlines",C3\r\n{ROW_2}\r\n'
    assert parse(text) == [
        bad(1, "1,2024-01-05,C1"),
        bad(2, f"{ROW_1},extra"),
        bad(3, '3,"two\nlines",C3'),
        good(4, VALUES_2),
    ]


def test_a_single_field_row_is_corrupt():
    assert parse(f"{HEADER}\nhello\n{ROW_1}\n") == [bad(1, "hello"), good(2, VALUES_1)]


def test_row_width_is_checked_against_the_header_even_with_missing_columns():
    header = "order_id,order_date,customer_id"
    records = parse(f"{header}\n1,2024-01-05,C1\n1,2024-01-05,C1,Books\n")
    assert records == [
        good(1, ("1", "2024-01-05", "C1", None, None, None)),
        bad(2, "1,2024-01-05,C1,Books"),
    ]


def test_non_utf8_bytes_make_only_that_record_corrupt():
    data = (
        f"{HEADER}\n".encode()
        + b"1,2024-01-05,C1,Caf\xe9,10.00,COMPLETED\n"
        + b'2,2024-01-05,C2,"quoted \xff\xfe",5,PENDING\n'
        + f"{ROW_2}\n".encode()
    )
    records = parse(data)
    assert [r.source_row for r in records] == [1, 2, 3]
    assert records[2] == good(3, VALUES_2)
    for record, prefix, suffix in (
        (records[0], "1,2024-01-05,C1,Caf", ",10.00,COMPLETED"),
        (records[1], '2,2024-01-05,C2,"quoted ', '",5,PENDING'),
    ):
        assert record.corrupt is not None
        assert record.corrupt.startswith(prefix)
        assert record.corrupt.endswith(suffix)
        # the corrupt text is itself storable as UTF-8
        record.corrupt.encode("utf-8")
        assert record.rescued is None
        assert record.values == (None,) * 6


# --- empty and degenerate files --------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xef\xbb\xbf",
        b"\n\n\r\n",
        HEADER.encode(),
        f"{HEADER}\n".encode(),
        f"{HEADER}\r\n\r\n\n".encode(),
        b"\xef\xbb\xbf" + f"{HEADER}\r\n".encode(),
    ],
    ids=[
        "0-byte",
        "bom-only",
        "blank-only",
        "header-no-newline",
        "header",
        "header-blanks",
        "bom-header",
    ],
)
def test_files_without_data_rows_give_no_records(data):
    assert parse(data) == []


def test_a_one_megabyte_field_parses():
    big = "x" * (1 << 20)
    big_quoted = ("a,b\n" * (1 << 18))[: 1 << 20]
    text = f'{HEADER}\n1,2024-01-05,C1,{big},10.00,COMPLETED\n2,2024-01-05,C2,"{big_quoted}",5,X\n'
    records = parse(text)
    assert records == [
        good(1, ("1", "2024-01-05", "C1", big, "10.00", "COMPLETED")),
        good(2, ("2", "2024-01-05", "C2", big_quoted, "5", "X")),
    ]


def test_a_ten_thousand_column_row_is_corrupt():
    wide = ",".join(str(i) for i in range(10_000))
    assert parse(f"{HEADER}\n{wide}\n{ROW_1}\n") == [bad(1, wide), good(2, VALUES_1)]


def test_unclosed_quote_at_end_of_file_swallowing_the_rest_is_one_corrupt_record():
    tail = f'3,2024-01-05,C3,"Books,10,COMPLETED\n{ROW_2}\n'
    records = parse(f"{HEADER}\n{ROW_1}\n{tail}")
    assert records[0] == good(1, VALUES_1)
    assert records[1:] == [bad(2, tail.rstrip("\n"))]


@pytest.mark.parametrize("newline", ["\n", ""], ids=["newline", "no-newline"])
def test_unclosed_quote_in_the_last_field_at_end_of_file_is_corrupt(newline):
    # RFC 4180: a quoted field must end with a closing quote. An unterminated one cannot be
    # parsed (contract section 2: `_corrupt_record` holds the raw line when the row could not
    # be parsed), even though the field count happens to match the header.
    raw = '3,2024-01-05,C3,Books,10,"COMPLETED'
    records = parse(f"{HEADER}\n{ROW_1}\n{raw}{newline}")
    assert records[0] == good(1, VALUES_1)
    assert records[1:] == [bad(2, raw)]
