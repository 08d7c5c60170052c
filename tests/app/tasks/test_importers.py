"""The task file parsers: every refusal names its problem (and its row), every accepted shape."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from labelhive.imports import parsers as importers
from labelhive.imports.parsers import ImportFormatError
from labelhive.imports.parsers import TaskSpec
from labelhive.imports.parsers import detect_format
from labelhive.imports.parsers import iter_tasks
from labelhive.imports.parsers import parse_tasks
from labelhive.imports.parsers import preview


def csv_bytes(*rows: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def refusal(data: bytes, fmt: str, **limits: int) -> str:
    with pytest.raises(ImportFormatError) as caught:
        parse_tasks(data, fmt, **limits)
    return str(caught.value)


# -- accepted shapes ------------------------------------------------------------------------


def test_csv_row_becomes_info_with_url_and_control_columns_taken_out():
    data = csv_bytes(
        ["url", "label", "n_answers", "priority_0", "gold"],
        ["https://example.com/1.jpg", "cat", "5", "0.5", "dog"],
        ["https://example.com/2.jpg", "", "", "", ""],
    )
    assert parse_tasks(data, "csv") == [
        TaskSpec(
            info={"url": "https://example.com/1.jpg", "label": "cat"},
            n_answers=5,
            priority_0=0.5,
            gold_answer="dog",
        ),
        TaskSpec(info={"url": "https://example.com/2.jpg", "label": ""}),
    ]


@pytest.mark.parametrize("header", ["image", "Image_URL", "URL", " image "])
def test_url_column_aliases_keep_the_original_key_and_add_url(header):
    [spec] = parse_tasks(csv_bytes([header, "caption"], ["s3://bucket/a/b.png", "x"]), "csv")
    assert spec.info == {
        header.strip(): "s3://bucket/a/b.png",
        "url": "s3://bucket/a/b.png",
        "caption": "x",
    }


def test_url_is_preferred_over_image_when_both_are_present():
    [spec] = parse_tasks(
        csv_bytes(["image", "url"], ["thumbnail.jpg", "https://example.com/full.jpg"]), "csv"
    )
    assert spec.info == {"image": "thumbnail.jpg", "url": "https://example.com/full.jpg"}


def test_priority_and_gold_answer_aliases_case_insensitive():
    [spec] = parse_tasks(
        csv_bytes(["URL", "Priority", "GOLD_ANSWER"], ["https://e.com/1", "-2", " cat "]), "csv"
    )
    assert spec == TaskSpec(
        info={"URL": "https://e.com/1", "url": "https://e.com/1"},
        priority_0=-2.0,
        gold_answer="cat",
    )


def test_bom_crlf_quoted_newlines_blank_lines_and_short_rows():
    data = (
        b"\xef\xbb\xbfurl,caption,extra\r\n"
        b'https://e.com/1,"two\r\nlines",x\r\n'
        b"\r\n"
        b"https://e.com/2\r\n"
    )
    assert [spec.info for spec in parse_tasks(data, "csv")] == [
        {"url": "https://e.com/1", "caption": "two\r\nlines", "extra": "x"},
        {"url": "https://e.com/2", "caption": "", "extra": ""},
    ]


def test_csv_info_column_holds_the_task_as_json():
    data = csv_bytes(
        ["info", "n_answers"],
        [json.dumps({"image": "https://e.com/1.png", "text": "é"}), "2"],
    )
    assert parse_tasks(data, "csv") == [
        TaskSpec(
            info={"image": "https://e.com/1.png", "url": "https://e.com/1.png", "text": "é"},
            n_answers=2,
        )
    ]


def test_json_list_of_objects_keeps_types():
    data = json.dumps(
        [
            {"url": "https://e.com/1", "meta": {"w": 640}, "tags": ["a"], "n_answers": 3},
            {"info": {"text": "no image: a text task"}, "priority_0": 1, "gold_answer": None},
        ]
    ).encode()
    assert parse_tasks(data, "json") == [
        TaskSpec(info={"url": "https://e.com/1", "meta": {"w": 640}, "tags": ["a"]}, n_answers=3),
        TaskSpec(info={"text": "no image: a text task"}, priority_0=1.0),
    ]


def test_json_task_export_shape_can_be_imported_again():
    exported = {
        "id": 7,
        "project_id": 1,
        "created": "2024-01-01T00:00:00Z",
        "state": "completed",
        "n_answers": 4,
        "n_answers_done": 4,
        "priority_0": 0.25,
        "gold_answer": "cat",
        "info": {"url": "https://e.com/1.jpg"},
    }
    assert parse_tasks(json.dumps([exported]).encode(), "json") == [
        TaskSpec(
            info={"url": "https://e.com/1.jpg"}, n_answers=4, priority_0=0.25, gold_answer="cat"
        )
    ]


def test_jsonl_skips_blank_lines_and_keeps_unicode_line_separators():
    data = '{"url": "https://e.com/1", "t": "a\u2028b"}\n\n  \n{"url": "https://e.com/2"}'.encode()
    assert [spec.info for spec in parse_tasks(data, "jsonl")] == [
        {"url": "https://e.com/1", "t": "a\u2028b"},
        {"url": "https://e.com/2"},
    ]


def test_binary_file_objects_are_read():
    data = csv_bytes(["url"], ["https://e.com/1"])
    assert parse_tasks(io.BytesIO(data), "csv") == [TaskSpec(info={"url": "https://e.com/1"})]


def test_preview_returns_the_first_rows_and_the_total_after_checking_all():
    rows = [["url"]] + [[f"https://e.com/{i}"] for i in range(12)]
    first, total = preview(csv_bytes(*rows), "csv", n=3)
    assert total == 12
    assert [spec.info["url"] for spec in first] == [f"https://e.com/{i}" for i in range(3)]
    with pytest.raises(ImportFormatError, match="Row 13"):
        preview(csv_bytes(*rows, ["javascript:alert(1)"]), "csv", n=3)


def test_a_hundred_thousand_rows_parse():
    rows = [["url", "label"]] + [[f"https://e.com/{i}.jpg", str(i)] for i in range(100_000)]
    specs = parse_tasks(csv_bytes(*rows), "csv")
    assert len(specs) == 100_000
    assert specs[-1].info == {"url": "https://e.com/99999.jpg", "label": "99999"}


def test_plain_http_urls_and_the_others_make_the_same_shape_of_info():
    data = csv_bytes(
        ["Image", "label"],
        [" https://e.com/1.jpg ", "a"],
        ["HTTPS://E.COM/2.jpg", "b"],
        ["s3://bucket/3.jpg", "c"],
        ["https://e.com/4.jpg", ""],
    )
    infos = [list(spec.info.items()) for spec in parse_tasks(data, "csv")]
    assert infos == [
        [("Image", "https://e.com/1.jpg"), ("label", "a"), ("url", "https://e.com/1.jpg")],
        [("Image", "HTTPS://E.COM/2.jpg"), ("label", "b"), ("url", "HTTPS://E.COM/2.jpg")],
        [("Image", "s3://bucket/3.jpg"), ("label", "c"), ("url", "s3://bucket/3.jpg")],
        [("Image", "https://e.com/4.jpg"), ("label", ""), ("url", "https://e.com/4.jpg")],
    ]
    controls = csv_bytes(["url", "n_answers"], [" https://e.com/1.jpg", "2"])
    assert parse_tasks(controls, "csv") == [TaskSpec({"url": "https://e.com/1.jpg"}, n_answers=2)]


def large_csv(tail: bytes, size: int = 1 << 20) -> bytes:
    """A CSV whose byte ``size - 1`` starts ``tail`` (the encoding is checked in 1 MiB pieces)."""
    head, line, last = b"url,label\n", b"https://e.com/x.jpg,a\n", b"https://e.com/y.jpg,"
    count = (size - 1 - len(head) - len(last)) // len(line)
    padding = size - 1 - len(head) - len(last) - count * len(line)
    return head + line * count + last + b"b" * padding + tail


def test_a_character_across_the_pieces_of_a_large_file_is_read_whole():
    data = large_csv("é\n".encode())
    assert data.index("é".encode()) == (1 << 20) - 1
    specs = parse_tasks(data, "csv")
    assert specs[-1].info["label"].endswith("bé")


def test_encoding_errors_after_the_first_mebibyte_name_their_line_and_byte():
    data = large_csv(b"\xc3\xa9\nhttps://e.com/z.jpg,caf\xe9\n")
    bad = data.index(b"caf\xe9") + 3
    line = data.count(b"\n", 0, bad) + 1
    assert refusal(data, "csv").startswith(
        f"The file is not UTF-8 text (first bad byte on line {line}, byte {bad + 1})."
    )
    # the file ends half-way through a character
    truncated = large_csv(b"\xc3")
    assert refusal(truncated, "csv").endswith(
        f"byte {len(truncated)}). Save it as UTF-8"
        + (" (in Excel: 'CSV UTF-8') and upload it again.")
    )
    # a NUL byte is named first, wherever it is, as when the file was checked in one piece
    nul_later = large_csv(b"\xff\n\x00\n")
    line = nul_later.count(b"\n", 0, nul_later.index(b"\x00")) + 1
    assert refusal(nul_later, "csv").startswith(f"The file contains a NUL byte (line {line})")


# -- detect_format --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content_type", "head", "expected"),
    [
        ("tasks.CSV", None, b"", "csv"),
        ("tasks.json", "text/csv", b"", "json"),
        ("tasks.ndjson", None, b"", "jsonl"),
        ("tasks.jsonl", None, b"", "jsonl"),
        ("upload", "application/json; charset=utf-8", b"", "json"),
        (None, "application/x-ndjson", b"", "jsonl"),
        (None, "text/plain", b'\xef\xbb\xbf  [{"url": "x"}]', "json"),
        (None, None, b'{"url": "x"}\n{"url": "y"}\n', "jsonl"),
        (None, None, b'{\n  "url": "x"\n}\n', "json"),
        (None, "application/octet-stream", b"url,label\nhttps://e.com/1,a\n", "csv"),
    ],
)
def test_detect_format(filename, content_type, head, expected):
    assert detect_format(filename, content_type, head) == expected


def test_detect_format_refuses_what_it_cannot_tell():
    with pytest.raises(ImportFormatError, match=r"Cannot tell the file's format.*\.csv"):
        detect_format("tasks.xlsx", "application/octet-stream", b"PK\x03\x04\x00\x00")


# -- CSV refusals ---------------------------------------------------------------------------


def test_not_utf8_names_the_line():
    data = b"url,label\nhttps://e.com/1,a\nhttps://e.com/2,caf\xe9\n"
    assert refusal(data, "csv").startswith("The file is not UTF-8 text (first bad byte on line 3")


def test_not_utf8_after_a_bom_names_the_right_byte():
    message = refusal(b"\xef\xbb\xbfurl\n\xff\n", "csv")
    assert "line 2, byte 8)" in message


def test_utf16_is_named():
    data = "url\nhttps://e.com/1\n".encode("utf-16")
    assert "UTF-16" in refusal(data, "csv")


def test_nul_byte_names_the_line():
    message = refusal(b"url,label\nhttps://e.com/1,a\x00b\n", "csv")
    assert message.startswith("The file contains a NUL byte (line 2)")


def test_no_url_column_lists_the_accepted_names():
    message = refusal(csv_bytes(["name", "label"], ["x", "y"]), "csv")
    assert "no image URL column" in message
    for name in ("'url'", "'image_url'", "'image'", "'info'"):
        assert name in message


def test_an_empty_info_cell_needs_a_url_in_the_row():
    message = refusal(
        csv_bytes(["info", "label"], ['{"url": "https://e.com/1"}', "a"], ["", "b"]), "csv"
    )
    assert message.startswith("Row 2 (line 3) has no image URL")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript://e.com/%0Aalert(1)",
        "file:///etc/passwd",
        "data:image/png;base64,AAAA",
        "ftp://e.com/a.jpg",
        "/static/a.jpg",
        "//e.com/a.jpg",
        "https://",
        "http://exa mple.com/a.jpg",
        "s3://bucket",
        "s3://bucket/",
    ],
)
def test_unsafe_or_unusable_urls_are_refused_with_the_row(url):
    message = refusal(csv_bytes(["url"], ["https://e.com/ok.jpg"], [url]), "csv")
    assert message.startswith("Row 2 (line 3): 'url' must be an http(s):// URL or s3://bucket/key")


def test_empty_url_is_refused_with_the_row():
    message = refusal(csv_bytes(["url", "label"], ["", "a"]), "csv")
    assert message == "Row 1 (line 2) has an empty image URL in 'url'."


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "three", "10001"])
def test_bad_n_answers_names_the_row(value):
    message = refusal(
        csv_bytes(["url", "n_answers"], ["https://e.com/1", "3"], ["https://e.com/2", value]), "csv"
    )
    assert message.startswith("Row 2 (line 3): n_answers must be")


@pytest.mark.parametrize("value", ["high", "nan", "inf"])
def test_bad_priority_names_the_row(value):
    message = refusal(csv_bytes(["url", "priority"], ["https://e.com/1", value]), "csv")
    assert message.startswith("Row 1 (line 2): 'priority' must be a number")


def test_two_columns_for_one_setting_are_refused():
    message = refusal(
        csv_bytes(["url", "gold", "gold_answer"], ["https://e.com/1", "a", "b"]), "csv"
    )
    assert message == "The header gives gold_answer twice ('gold' and 'gold_answer'); keep one."


def test_duplicate_and_unnamed_headers_are_refused():
    assert refusal(csv_bytes(["url", "URL"], ["a", "b"]), "csv") == (
        "The header names the column 'URL' twice."
    )
    assert "Column 2 of the header (line 1) has no name" in refusal(
        csv_bytes(["url", " "], ["a", "b"]), "csv"
    )


def test_too_many_cells_names_the_row():
    message = refusal(b"url,label\nhttps://e.com/1,a,b\n", "csv")
    assert message == (
        "Row 1 (line 2) has 3 cells but the header has 2 columns; quote cells that contain commas."
    )


def test_unclosed_quote_names_the_row():
    message = refusal(b'url,label\nhttps://e.com/1,a\nhttps://e.com/2,"open\nmore\n', "csv")
    assert message == "Row 2 (starting on line 3) is not valid CSV: a quoted cell is never closed."


def test_a_10_mb_cell_names_the_row_without_touching_the_csv_field_limit():
    before = csv.field_size_limit()
    data = b'url,label\nhttps://e.com/1,a\nhttps://e.com/2,"' + b"x" * 10_000_000 + b'"\n'
    message = refusal(data, "csv")
    assert message == "Row 2 (starting on line 3) has a cell larger than 65,536 bytes."
    assert csv.field_size_limit() == before


def test_a_cell_over_the_limit_in_utf8_bytes_names_row_and_column():
    # 40,000 characters, 80,000 bytes: under the limit in characters, over it in bytes
    data = csv_bytes(["url", "text"], ["https://e.com/1", "é" * 40_000])
    message = refusal(data, "csv")
    assert message == "Row 1 (line 2), column 'text': the cell is larger than 65,536 bytes."
    assert len(parse_tasks(data, "csv", max_cell_bytes=80_000)) == 1


def test_more_rows_than_allowed():
    data = csv_bytes(["url"], *[[f"https://e.com/{i}"] for i in range(11)])
    assert refusal(data, "csv", max_rows=10) == (
        "The file has more than 10 tasks; split it into files of at most 10 tasks."
    )
    assert len(parse_tasks(data, "csv", max_rows=11)) == 11


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"", "csv"),
        (b"\xef\xbb\xbf", "csv"),
        (b"url,label\n", "csv"),
        (b"url,label\n\n,\n", "csv"),
        (b"[]", "json"),
        (b"", "jsonl"),
        (b"\n\n", "jsonl"),
    ],
)
def test_empty_files_have_no_tasks(data, fmt):
    assert refusal(data, fmt) == "The file contains no tasks."


def test_unknown_format():
    assert refusal(b"url\nhttps://e.com/1\n", "xlsx").startswith("Unknown import format 'xlsx'")


# -- JSON and JSONL refusals ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "kind"),
    [({"url": "x"}, "an object"), ("url", "a string"), (3, "a number"), (None, "null")],
)
def test_json_must_be_a_list(document, kind):
    message = refusal(json.dumps(document).encode(), "json")
    assert message == f"JSON imports must be a list of objects, got {kind}."


def test_json_items_must_be_objects():
    message = refusal(b'[{"url": "https://e.com/1"}, ["https://e.com/2"]]', "json")
    assert message == "JSON imports must be a list of objects: item 2 is a list."


def test_invalid_json_names_line_and_column():
    message = refusal(b'[\n  {"url": "https://e.com/1"},\n  {"url": }\n]', "json")
    assert message == "The file is not valid JSON: Expecting value (line 3, column 11)."


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_is_refused(constant):
    message = refusal(f'[{{"url": "https://e.com/1", "x": {constant}}}]'.encode(), "json")
    assert message == f"The file is not valid JSON: {constant} is not valid JSON."


def test_json_nul_and_lone_surrogates_are_refused():
    nul = refusal(
        b'[{"url": "https://e.com/1"}, {"url": "https://e.com/2", "a": ["\\u0000"]}]', "json"
    )
    assert nul == "Item 2 contains a NUL character (\\u0000), which is refused."
    lone = refusal(b'[{"url": "https://e.com/1", "\\ud800": 1}]', "json")
    assert lone.startswith("Item 1 contains an unpaired surrogate escape")


def test_json_oversized_value_names_the_item():
    data = json.dumps([{"url": "https://e.com/1", "meta": {"text": "x" * 70_000}}]).encode()
    assert refusal(data, "json") == "Item 1 has a value larger than 65,536 bytes."


def test_json_info_must_be_an_object_and_its_url_is_checked():
    assert refusal(b'[{"info": "https://e.com/1"}]', "json") == (
        "Item 1: 'info' must be a JSON object, got a string."
    )
    assert refusal(b'[{"info": {"url": "file:///etc/passwd"}}]', "json").startswith(
        "Item 1: 'url' must be an http(s):// URL"
    )


def test_json_gold_answer_must_be_a_string():
    message = refusal(b'[{"url": "https://e.com/1", "gold": 3}]', "json")
    assert message == "Item 1: 'gold' must be a string (one of the answer options), not 3."


def test_jsonl_errors_name_the_line():
    good = b'{"url": "https://e.com/1"}\n'
    assert refusal(good + b"\n" + b'{"url": "https://e.com/2"\n', "jsonl") == (
        "Line 3 is not valid JSON: Expecting ',' delimiter (column 26)."
    )
    assert refusal(good + b"[1, 2]\n", "jsonl") == (
        "Line 2 must hold one JSON object per line, got a list."
    )
    assert refusal(good + b'{"url": "javascript:x"}\n', "jsonl").startswith("Line 2: 'url' must be")
    assert refusal(good * 3, "jsonl", max_rows=2).startswith("The file has more than 2 tasks")


def test_jsonl_nul_byte_in_the_text_is_invalid_json():
    message = refusal(b'{"url": "https://e.com/1", "a": "x\x00"}\n', "jsonl")
    assert message.startswith("Line 1 is not valid JSON: Invalid control character")


@pytest.mark.parametrize(
    ("fmt", "data", "where"),
    [
        ("csv", b"url\nhttps://e.com/1.jpg\njavascript:alert(1)\n", "Row 2 (line 3)"),
        ("jsonl", b'{"url": "https://e.com/1.jpg"}\r\n\n[1]', "Line 3"),
    ],
)
def test_iter_tasks_is_lazy_and_names_a_later_bad_row(fmt, data, where):
    tasks = iter_tasks(data, fmt)
    assert next(tasks).info == {"url": "https://e.com/1.jpg"}
    with pytest.raises(ImportFormatError, match=re.escape(where)):
        next(tasks)
    with pytest.raises(ImportFormatError, match="no tasks"):
        list(iter_tasks(b"url\n", "csv"))


# -- wide files: a column cap, and a preview linear in rows x columns ----------------------------


def wide_csv(columns: int) -> bytes:
    header = ["url"] + [f"c{i}" for i in range(columns - 1)]
    return csv_bytes(header, ["https://x.test/a.png"] + ["1"] * (columns - 1))


def test_a_30000_column_csv_is_refused_with_the_limit():
    # 259 KB that once cost 35 s of server CPU at preview
    data = wide_csv(30_000)
    message = refusal(data, "csv")
    assert message == (
        "The header (line 1) has 30,000 columns; at most 1,000 are allowed"
        " (LABELHIVE_MAX_IMPORT_COLUMNS). Keep the columns the tasks need."
    )
    # the limit is the deployment's to set
    assert "at most 50" in refusal(wide_csv(51), "csv", max_columns=50)
    [spec] = parse_tasks(wide_csv(50), "csv", max_columns=50)
    assert len(spec.info) == 50


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_json_object_with_too_many_keys_is_refused(fmt):
    item = {"url": "https://x.test/a.png", **{f"k{i}": i for i in range(1_000)}}
    data = json.dumps([item]) if fmt == "json" else json.dumps(item)
    where = "Item 1" if fmt == "json" else "Line 1"
    assert refusal(data.encode(), fmt) == (
        f"{where} has 1,001 columns; at most 1,000 are allowed"
        " (LABELHIVE_MAX_IMPORT_COLUMNS). Keep the columns the tasks need."
    )


class CountingInfo(dict):
    """A task's info that counts the keys read from it."""

    reads = 0

    def __iter__(self):
        for key in super().__iter__():
            CountingInfo.reads += 1
            yield key


def test_the_preview_columns_are_read_in_one_linear_pass():
    from labelhive.projects.importing import _columns

    wide = CountingInfo({f"c{i}": i for i in range(30_000)})
    CountingInfo.reads = 0
    specs = [TaskSpec(info=wide) for _ in range(5)]
    assert _columns(specs) == [f"c{i}" for i in range(8)]
    # it stops once it has the 8 it shows (it used to test every key against a list of all)
    assert CountingInfo.reads == 8
    # narrow tasks with different keys: each key read once, first seen first
    CountingInfo.reads = 0
    specs = [TaskSpec(info=CountingInfo({"url": 1, k: 2})) for k in ("a", "b", "a")]
    assert _columns(specs) == ["url", "a", "b"]
    assert CountingInfo.reads == 6


# -- a CSV file read as it is parsed (the CLI): the same tasks and refusals as its bytes ---------


@pytest.mark.parametrize(
    "data",
    [
        b"url\nhttps://e.com/1.jpg\nhttps://e.com/2.jpg\n",
        b'\xef\xbb\xbfurl,label\r\nhttps://e.com/1.jpg,"a, b"\r\n',
        b"url\nhttps://e.com/1.jpg\nhttps://e.com/\x002.jpg\n",
        b"url\nhttps://e.com/1.jpg\nhttps://e.com/\xff.jpg\n",
        b"\xff\xfeu\x00r\x00l\x00",
        b"url\n",
        b'url\nhttps://e.com/1.jpg\n"unclosed\n',
    ],
    ids=["plain", "bom-quoted", "nul", "not-utf8", "utf16", "empty", "bad-row"],
)
def test_a_csv_file_gives_what_its_bytes_give(data):
    def outcome(source):  # noqa: ANN001, ANN202
        try:
            return [t.info for t in iter_tasks(source, "csv")]
        except ImportFormatError as exc:
            return str(exc)

    assert outcome(io.BytesIO(data)) == outcome(data)
    assert outcome(io.BufferedReader(io.BytesIO(data), buffer_size=4)) == outcome(data)


@pytest.mark.parametrize("piece", [1, 2, 3, 5])
def test_a_file_is_checked_alike_whatever_the_piece_size(piece):
    # a multi-byte character, a NUL and a bad byte, each split across pieces
    for data in ("url\né.jpg\n".encode(), b"url\nx\x00y\n", b"url\nab\xe9z\n"):
        try:
            importers._check_file(io.BytesIO(data), piece)
            got = None
        except ImportFormatError as exc:
            got = str(exc)
        try:
            importers._decode(data, allow_nul=False)
            expected = None
        except ImportFormatError as exc:
            expected = str(exc)
        assert got == expected
