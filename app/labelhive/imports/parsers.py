"""Parse task files (CSV, JSON, JSON Lines) into :class:`TaskSpec` values: pure, no I/O.

One row (CSV) or object (JSON, JSONL) is one task. How a row becomes a task:

- If it has an ``info`` value (a JSON object; in CSV a cell holding a JSON object), that is the
  task's ``info``, as PYBOSSA's ``pbs add_tasks`` does. Other keys are ignored except the control
  keys below, so a LabelHive JSON/JSONL task export can be imported again as it is.
- Otherwise the row itself is the ``info``, minus the control keys. It must have an image URL
  under ``url``, ``image_url`` or ``image`` (header names match case-insensitively; the first of
  these present wins). The original key is kept, and the URL is also stored as ``info["url"]``,
  the one key the rest of LabelHive reads.
- Control keys, matched case-insensitively and never stored in ``info`` (a gold answer in
  ``info`` would be shown to annotators): ``n_answers``; ``priority_0`` or ``priority``;
  ``gold_answer`` or ``gold`` (empty means "not a gold task"). Given the project's answer
  options, a gold answer must be one of them (:func:`labelhive.tasks.schemas.gold_error`).
- The image URL must be ``http(s)://host/...`` or ``s3://bucket/key``; anything else
  (``javascript:``, ``file:``, ``data:``, relative paths) is refused, as it ends up in an
  ``<img src>``. Given the project's :class:`~labelhive.storage.scope.S3Scope`, an ``s3://``
  image outside it (another bucket, another project's prefix) is refused too, by row.

Every refusal is an :class:`ImportFormatError` whose message is a sentence a project owner can
act on, naming the row or line. Rows are numbered from 1 (the first task), not counting the CSV
header, and CSV/JSONL messages give the line of the file as well.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import math
import re
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import IO
from typing import Any
from urllib.parse import urlsplit

from labelhive.security import MAX_JSON_DEPTH
from labelhive.security import TooDeep
from labelhive.security import has_dot_segments
from labelhive.storage.scope import IMAGE_KEYS
from labelhive.storage.scope import OutsideScope
from labelhive.storage.scope import S3Scope
from labelhive.tasks import rules
from labelhive.tasks import schemas
from labelhive.tasks.schemas import TaskSpec as TaskSpec

FORMATS = ("csv", "json", "jsonl")
# the most columns (CSV) or keys (JSON) a task file may have; LABELHIVE_MAX_IMPORT_COLUMNS
MAX_COLUMNS = 1000

URL_KEYS = ("url", "image_url", "image")
# field name -> the keys (lower case) that may carry it, preferred first
CONTROL_KEYS = {
    "n_answers": ("n_answers",),
    "priority_0": ("priority_0", "priority"),
    "gold_answer": ("gold_answer", "gold"),
}
_CONTROL_NAMES = {alias: field for field, aliases in CONTROL_KEYS.items() for alias in aliases}

_EXTENSIONS = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
}
_CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.ms-excel": "csv",  # what Windows browsers send for .csv files
    "application/json": "json",
    "text/json": "json",
    "application/x-ndjson": "jsonl",
    "application/ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/jsonlines": "jsonl",
}


class ImportFormatError(ValueError):
    """The file cannot be imported; ``str()`` says why, and where, in a sentence."""


def detect_format(filename: str | None, content_type: str | None = None, head: bytes = b"") -> str:
    """Tell the format of an uploaded file from its name, else its content type, else its start.

    :param filename: the uploaded file's name (its extension decides first).
    :param content_type: the upload's ``Content-Type``; generic types are ignored.
    :param head: the first bytes of the file (a few KiB is plenty).
    :return: one of :data:`FORMATS`.
    :raise ImportFormatError: when none of them tells.
    """
    if filename:
        name = filename.strip().lower()
        for extension, fmt in _EXTENSIONS.items():
            if name.endswith(extension):
                return fmt
    if content_type:
        by_type = _CONTENT_TYPES.get(content_type.split(";")[0].strip().lower())
        if by_type:
            return by_type
    sniffed = _sniff(head)
    if sniffed:
        return sniffed
    raise ImportFormatError(
        "Cannot tell the file's format: upload a .csv, .json or .jsonl file"
        " (CSV with a header row, a JSON list of objects, or one JSON object per line)."
    )


def _sniff(head: bytes) -> str | None:
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        first_line = text.split(b"\n", 1)[0]
        try:
            json.loads(first_line)
        except ValueError:
            # a pretty-printed object: JSON, which parse_tasks then explains is not a list
            return "json"
        return "jsonl"
    first_line = text.split(b"\n", 1)[0]
    if first_line and b"," in first_line and b"\x00" not in first_line:
        return "csv"
    return None


def parse_tasks(
    data: bytes | IO[bytes],
    fmt: str,
    *,
    max_rows: int = 1_000_000,
    max_cell_bytes: int = 65_536,
    max_columns: int = MAX_COLUMNS,
    s3_scope: S3Scope | None = None,
    answer_options: Sequence[str] = (),
) -> list[TaskSpec]:
    """Parse a whole task file; every row is checked before any is returned.

    :param data: the file's bytes, or a binary file object (read to the end).
    :param fmt: one of :data:`FORMATS` (see :func:`detect_format`).
    :param max_rows: the most tasks one file may hold.
    :param max_columns: the most columns a CSV header, or keys a JSON object, may have: every
        step after parsing is linear in rows x columns, and a narrow file of very many columns
        would still cost far more than its size suggests.
    :param max_cell_bytes: the largest CSV cell, or JSON string value, in UTF-8 bytes. For CSV it
        is also capped by :func:`csv.field_size_limit` (131072 characters by default), which is
        process-wide and therefore left alone.
    :param s3_scope: the project's storage: an ``s3://`` image outside it refuses the file
        (:mod:`labelhive.storage.scope`). ``None`` checks the URL's form only.
    :param answer_options: the project's answer options: a gold answer that is not one of them
        refuses the file. Pass all of these as ``**schemas.import_checks(project, config)``.
    :return: the tasks, in file order.
    :raise ImportFormatError: the first problem found, with its row or line.
    """
    return list(
        iter_tasks(
            data,
            fmt,
            max_rows=max_rows,
            max_cell_bytes=max_cell_bytes,
            max_columns=max_columns,
            s3_scope=s3_scope,
            answer_options=answer_options,
        )
    )


def iter_tasks(
    data: bytes | IO[bytes],
    fmt: str,
    *,
    max_rows: int = 1_000_000,
    max_cell_bytes: int = 65_536,
    max_columns: int = MAX_COLUMNS,
    s3_scope: S3Scope | None = None,
    answer_options: Sequence[str] = (),
) -> Iterator[TaskSpec]:
    """Parse a task file lazily: :func:`parse_tasks` one task at a time, in constant memory.

    The file-wide checks (format, encoding) run before the first task is yielded; a bad row
    raises when the iteration reaches it, so a caller that writes tasks as they come must do it
    in one transaction and roll it back on :class:`ImportFormatError` (as
    :func:`labelhive.imports.writer.import_tasks` callers do).

    :raise ImportFormatError: as :func:`parse_tasks`, when the iteration reaches the problem.
    """
    if fmt not in FORMATS:
        raise ImportFormatError(f"Unknown import format {fmt!r}; use one of {', '.join(FORMATS)}.")
    limits = _Limits(
        max_rows=max_rows,
        max_cell_bytes=max_cell_bytes,
        max_columns=max_columns,
        s3_scope=s3_scope,
        answer_options=tuple(answer_options),
    )
    if fmt == "csv" and not isinstance(data, bytes | bytearray | memoryview) and data.seekable():
        # a file: checked in pieces, then parsed as it is read, so memory stays flat whatever
        # its size (the CLI's import of 10M rows)
        _check_file(data)
        data.seek(0)
        specs = _parse_csv(_text_stream(data), limits)
    else:
        raw = bytes(data if isinstance(data, bytes | bytearray | memoryview) else data.read())
        if fmt == "csv":
            # checked a piece at a time, then read as a stream: the whole text would be one
            # more copy of the file (a StringIO of it four bytes per character)
            _check_text(raw)
            specs = _parse_csv(_text_stream(io.BytesIO(raw)), limits)
        else:
            text = _decode(raw, allow_nul=True)
            specs = _parse_json(text, limits) if fmt == "json" else _parse_jsonl(text, limits)
            # only the parser keeps what it still needs
            text = ""
        raw = b""
    first = next(specs, None)
    if first is None:
        raise ImportFormatError("The file contains no tasks.")
    yield first
    yield from specs


def preview(data: bytes, fmt: str, n: int = 5, **limits: Any) -> tuple[list[TaskSpec], int]:
    """Parse and check the whole file like :func:`parse_tasks`; return its first ``n`` tasks.

    :return: ``(first n tasks, number of tasks in the file)``.
    :raise ImportFormatError: as :func:`parse_tasks`.
    """
    specs = parse_tasks(data, fmt, **limits)
    return specs[:n], len(specs)


@dataclasses.dataclass(frozen=True)
class _Limits:
    max_rows: int
    max_cell_bytes: int
    max_columns: int = MAX_COLUMNS
    s3_scope: S3Scope | None = None
    answer_options: tuple[str, ...] = ()

    def check_columns(self, count: int, where: str) -> None:
        if count > self.max_columns:
            raise ImportFormatError(
                f"{where} has {count:,} columns; at most {self.max_columns:,} are allowed"
                " (LABELHIVE_MAX_IMPORT_COLUMNS). Keep the columns the tasks need."
            )

    def check_rows(self, count: int) -> None:
        if count > self.max_rows:
            raise ImportFormatError(
                f"The file has more than {self.max_rows:,} tasks; split it into files of at most"
                f" {self.max_rows:,} tasks."
            )


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode(data: bytes, *, allow_nul: bool) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFormatError(
            "The file is UTF-16 text; save it as UTF-8 (in Excel: 'CSV UTF-8') and upload it again."
        )
    # JSON escapes NUL as \u0000 inside strings, so a raw NUL byte is an error for the JSON
    # parser to report; CSV has no escape, and PostgreSQL refuses NUL in text
    if not allow_nul:
        nul = data.find(b"\x00")
        if nul >= 0:
            raise ImportFormatError(
                f"The file contains a NUL byte (line {_line_of(data, nul)}): it is not a text CSV"
                " file. Save it as 'CSV UTF-8' and upload it again."
            )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # utf-8-sig reports offsets after the BOM it removed
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        raise ImportFormatError(
            f"The file is not UTF-8 text (first bad byte on line {_line_of(data, offset)}, byte"
            f" {offset + 1}). Save it as UTF-8 (in Excel: 'CSV UTF-8') and upload it again."
        ) from None


def _text_stream(data: IO[bytes]) -> IO[str]:
    # newline="" splits lines as str.split would; the BOM is dropped as _decode drops it
    return io.TextIOWrapper(data, encoding="utf-8-sig", newline="")


def _check_file(data: IO[bytes], piece: int = 1 << 20) -> None:
    """Check a file as :func:`_check_text` checks bytes, a piece at a time.

    :raise ImportFormatError: :func:`_decode`'s error for the file (which, for a refused file
        only, reads all of it to name the line).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    start = data.read(2)
    ok = start not in (b"\xff\xfe", b"\xfe\xff")
    try:
        chunk = start
        while ok and chunk:
            ok = b"\x00" not in chunk
            decoder.decode(chunk)
            chunk = data.read(piece)
        if ok:
            decoder.decode(b"", final=True)
            return
    except UnicodeDecodeError:
        pass
    data.seek(0)
    _decode(data.read(), allow_nul=False)


def _check_text(data: bytes, piece: int = 1 << 20) -> None:
    """Check ``data`` as :func:`_decode` does (``allow_nul=False``) without a str of all of it.

    :raise ImportFormatError: :func:`_decode`'s error for ``data``.
    """
    _check_file(io.BytesIO(data), piece)


# -- CSV ------------------------------------------------------------------------------------


def _parse_csv(stream: IO[str], limits: _Limits) -> Iterator[TaskSpec]:
    # the csv module's field limit is process-wide; it is never raised, only reported
    cell_limit = min(limits.max_cell_bytes, csv.field_size_limit())
    reader = csv.reader(stream, strict=True)
    rows = _csv_rows(reader, cell_limit)
    header_line, header = next(rows, (0, None))
    if header is None:
        raise ImportFormatError("The file contains no tasks.")
    limits.check_columns(len(header), f"The header (line {header_line})")
    columns = _csv_columns(header, header_line)
    shape = _shape(columns, "The header")
    if shape.url_key is None and shape.info_key is None:
        raise ImportFormatError(
            "The CSV file has no image URL column: name one 'url', 'image_url' or 'image' (in"
            " any case), or add an 'info' column holding each task as a JSON object."
        )
    return _csv_specs(rows, columns, shape, limits, cell_limit)


def _csv_specs(
    rows: Iterator[tuple[int, list[str]]],
    columns: list[str],
    shape: _Shape,
    limits: _Limits,
    cell_limit: int,
) -> Iterator[TaskSpec]:
    width = len(columns)
    max_rows = limits.max_rows
    # the usual file, every column part of info and one of them the image URL: its rows with a
    # plain http(s) URL take a short way to the same TaskSpec that _spec makes
    # (with a scope, a second image column's s3:// URL must be checked: no short way then)
    other_images = limits.s3_scope is not None and any(
        c in IMAGE_KEYS and c != shape.url_key for c in columns
    )
    # the URL column's name and place, when the short way applies
    url_key = shape.url_key or ""
    url_at = (
        columns.index(url_key)
        if shape.url_key is not None and shape.plain == tuple(columns) and not other_images
        else None
    )
    for number, (line, cells) in enumerate(rows, start=1):
        if number > max_rows:
            limits.check_rows(number)
        if len(cells) != width:
            if len(cells) > width:
                raise ImportFormatError(
                    f"Row {number} (line {line}) has {len(cells)} cells but the header has"
                    f" {width} column{'s' if width > 1 else ''}; quote cells that contain commas."
                )
            # short rows (trailing empty cells dropped by some editors) are padded
            cells.extend([""] * (width - len(cells)))
        # a UTF-8 character is at most 4 bytes: only long rows need a closer look
        if max(map(len, cells)) * 4 > cell_limit:
            for column, cell in zip(columns, cells, strict=True):
                if _oversized(cell, cell_limit):
                    raise ImportFormatError(
                        f"Row {number} (line {line}), column {column!r}: the cell is larger"
                        f" than {cell_limit:,} bytes."
                    )
        if url_at is not None:
            url = cells[url_at].strip()
            if _HTTP_URL.fullmatch(url):
                info = dict(zip(columns, cells, strict=True))
                info[url_key] = info["url"] = url
                yield TaskSpec(info)
                continue
        record = dict(zip(columns, cells, strict=True))
        yield _spec(record, shape, f"Row {number} (line {line})", csv_text=True, limits=limits)


def _csv_rows(reader: Any, cell_limit: int) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line, cells)`` for each non-blank record, turning csv errors into sentences."""
    records = 0  # the header is record 0, so a data row's number is its record number
    line = 0
    try:
        for cells in reader:
            line = reader.line_num
            # blank unless a cell holds more than white space; the first one nearly always does
            if cells and (cells[0].strip() or "".join(cells).strip()):
                records += 1
                yield line, cells
    except csv.Error as exc:
        where = (
            f"Row {records} (starting on line {line + 1})"
            if records
            else f"The header (line {line + 1})"
        )
        if "field larger than field limit" in str(exc):
            raise ImportFormatError(
                f"{where} has a cell larger than {cell_limit:,} bytes."
            ) from None
        if "unexpected end of data" in str(exc):
            raise ImportFormatError(
                f"{where} is not valid CSV: a quoted cell is never closed."
            ) from None
        raise ImportFormatError(f"{where} is not valid CSV: {exc}.") from None


def _csv_columns(header: list[str], line: int) -> list[str]:
    columns = [name.strip() for name in header]
    seen: set[str] = set()
    for position, name in enumerate(columns, start=1):
        if not name:
            raise ImportFormatError(
                f"Column {position} of the header (line {line}) has no name; name it or delete it."
            )
        if name.lower() in seen:
            raise ImportFormatError(f"The header names the column {name!r} twice.")
        seen.add(name.lower())
    return columns


def _oversized(value: str, limit: float) -> bool:
    # a UTF-8 character is at most 4 bytes: only long strings need encoding to be sure
    if len(value) > limit:
        return True
    return len(value) * 4 > limit and len(value.encode("utf-8")) > limit


# -- JSON and JSON Lines --------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _parse_json(text: str, limits: _Limits) -> Iterator[TaskSpec]:
    try:
        document = _DECODER.decode(text)
    except RecursionError:
        raise ImportFormatError(str(TooDeep("The file"))) from None
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            f"The file is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except ValueError as exc:
        raise ImportFormatError(f"The file is not valid JSON: {exc}.") from None
    if not isinstance(document, list):
        raise ImportFormatError(
            f"JSON imports must be a list of objects, got {_json_type(document)}."
        )
    limits.check_rows(len(document))
    return _json_specs(document, limits)


def _json_specs(document: list[Any], limits: _Limits) -> Iterator[TaskSpec]:
    shapes: dict[tuple[str, ...], _Shape] = {}
    for number, item in enumerate(document, start=1):
        where = f"Item {number}"
        if not isinstance(item, dict):
            raise ImportFormatError(
                f"JSON imports must be a list of objects: item {number} is {_json_type(item)}."
            )
        limits.check_columns(len(item), where)
        _check_json_values(item, where, limits.max_cell_bytes)
        yield _spec(item, _cached_shape(shapes, item, where), where, csv_text=False, limits=limits)


def _split_lines(text: str) -> Iterator[str]:
    """``text.split("\\n")``, one piece at a time (a list of every line would double memory)."""
    start = 0
    while (end := text.find("\n", start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


def _parse_jsonl(text: str, limits: _Limits) -> Iterator[TaskSpec]:
    count = 0
    shapes: dict[tuple[str, ...], _Shape] = {}
    # not str.splitlines: U+2028 and friends may appear unescaped inside JSON strings
    for line_number, line in enumerate(_split_lines(text), start=1):
        if not line.strip():
            continue
        where = f"Line {line_number}"
        try:
            item = _DECODER.decode(line)
        except RecursionError:
            raise ImportFormatError(str(TooDeep(f"{where}"))) from None
        except json.JSONDecodeError as exc:
            raise ImportFormatError(
                f"{where} is not valid JSON: {exc.msg} (column {exc.colno})."
            ) from None
        except ValueError as exc:
            raise ImportFormatError(f"{where} is not valid JSON: {exc}.") from None
        if not isinstance(item, dict):
            raise ImportFormatError(
                f"{where} must hold one JSON object per line, got {_json_type(item)}."
            )
        count += 1
        limits.check_rows(count)
        limits.check_columns(len(item), where)
        _check_json_values(item, where, limits.max_cell_bytes)
        yield _spec(item, _cached_shape(shapes, item, where), where, csv_text=False, limits=limits)


def _cached_shape(shapes: dict[tuple[str, ...], _Shape], item: dict, where: str) -> _Shape:
    # objects of one file nearly always share their keys: classify each key set once
    keys = tuple(item)
    shape = shapes.get(keys)
    if shape is None:
        shape = shapes[keys] = _shape(keys, where)
    return shape


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _check_json_values(value: Any, where: str, limit: float, depth: int = 1) -> None:
    """Refuse what the database would: NUL characters, lone surrogates; oversized strings; and
    nesting deeper than :data:`labelhive.security.MAX_JSON_DEPTH`."""
    if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
        raise ImportFormatError(str(TooDeep(where)))
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json_string(key, where, limit)
            _check_json_values(item, where, limit, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_values(item, where, limit, depth + 1)
    elif isinstance(value, str):
        _check_json_string(value, where, limit)


def _check_json_string(value: str, where: str, limit: float) -> None:
    if _oversized(value, limit):
        raise ImportFormatError(f"{where} has a value larger than {limit:,} bytes.")
    if "\x00" in value:
        raise ImportFormatError(f"{where} contains a NUL character (\\u0000), which is refused.")
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ImportFormatError(
            f"{where} contains an unpaired surrogate escape (such as \\ud800), which is not text."
        ) from None


# -- one record -> one task -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Shape:
    """What each key of a record is for; the same for every row of a CSV file."""

    controls: dict[str, str]  # field -> the record's key for it
    info_key: str | None
    url_key: str | None  # the preferred image URL key present
    plain: tuple[str, ...]  # the keys that make up info when the row itself is the info


def _shape(keys: Iterable[str], where: str) -> _Shape:
    controls: dict[str, str] = {}
    info_key = None
    url_keys: dict[str, str] = {}
    plain = []
    for key in keys:
        lowered = key.lower()
        field = _CONTROL_NAMES.get(lowered)
        if field:
            if field in controls:
                raise ImportFormatError(
                    f"{where} gives {field} twice ({controls[field]!r} and {key!r}); keep one."
                )
            controls[field] = key
            continue
        if lowered == "info":
            info_key = key
            continue
        if lowered in URL_KEYS:
            url_keys.setdefault(lowered, key)
        plain.append(key)
    url_key = next((url_keys[name] for name in URL_KEYS if name in url_keys), None)
    return _Shape(controls, info_key, url_key, tuple(plain))


def _spec(
    record: dict[str, Any], shape: _Shape, where: str, *, csv_text: bool, limits: _Limits
) -> TaskSpec:
    controls = shape.controls
    info = _info_from(record, shape, where, csv_text=csv_text)
    if limits.s3_scope is not None:
        try:
            limits.s3_scope.check_info(info)
        except OutsideScope as exc:
            raise ImportFormatError(f"{where}: {exc}") from None
    return TaskSpec(
        info=info,
        n_answers=_n_answers(record, controls.get("n_answers"), where),
        priority_0=_priority(record, controls.get("priority_0"), where),
        gold_answer=_gold(record, controls.get("gold_answer"), where, limits.answer_options),
    )


def _info_from(record: dict[str, Any], shape: _Shape, where: str, *, csv_text: bool) -> dict:
    given = record.get(shape.info_key) if shape.info_key else None
    # an empty info falls back to the row, as pbs does (it tests ``item["info"]`` for truth)
    if given not in (None, "", {}):
        if csv_text:
            try:
                given = _DECODER.decode(given)
            except ValueError:
                raise ImportFormatError(
                    f"{where}: the 'info' cell must hold a JSON object, such as"
                    ' {"url": "https://example.com/1.jpg"}.'
                ) from None
            _check_json_values(given, where, math.inf)
        if not isinstance(given, dict):
            raise ImportFormatError(
                f"{where}: 'info' must be a JSON object, got {_json_type(given)}."
            )
        info = dict(given)
        # an image URL inside a given info is checked too, and exposed as info["url"]
        for key in URL_KEYS:
            if isinstance(info.get(key), str) and info[key].strip():
                info[key] = info["url"] = _check_url(info[key], where, key)
                break
        return info
    url_key = shape.url_key
    if url_key is None:
        raise ImportFormatError(
            f"{where} has no image URL: add a column (or key) named 'url', 'image_url' or 'image',"
            " or an 'info' column holding the task as a JSON object."
        )
    info = {key: record[key] for key in shape.plain}
    value = record[url_key]
    if not isinstance(value, str) or not value.strip():
        raise ImportFormatError(f"{where} has an empty image URL in {url_key!r}.")
    info[url_key] = info["url"] = _check_url(value, where, url_key)
    return info


# the usual URL, accepted without parsing; anything else goes through urlsplit (s3:// URLs have
# their bucket checked first; an http(s) URL that matches _HTTP_URL needs nothing else)
_HTTP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][^\x00-\x20\x7f]*)?")
_SIMPLE_URL = re.compile(_HTTP_URL.pattern + r"|s3://[a-z0-9.-]+/[^\x00-\x20\x7f]+")
_SPACE = re.compile(r"\s")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


# storage.s3's bucket rule (not imported: that module loads boto3)
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


def _check_s3_url(url: str, where: str, key: str) -> None:
    bucket, _, object_key = url[len("s3://") :].partition("/")
    if not _S3_BUCKET.fullmatch(bucket) or has_dot_segments(object_key):
        # the browser would resolve '..' in the proxied path and leave the /s3/ prefix
        raise ImportFormatError(
            f"{where}: {key!r} must name an object as s3://bucket/key, with no '.' or '..' "
            f"segments in the key, not {_shorten(url)!r}."
        )


def _check_url(value: str, where: str, key: str) -> str:
    url = value.strip()
    if url[:5].lower() == "s3://":
        _check_s3_url(url, where, key)
    if _SIMPLE_URL.fullmatch(url):
        return url
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    ok = (
        parts is not None
        and not _CONTROL_CHARS.search(url)
        and (
            (
                scheme in ("http", "https")
                and bool(parts.hostname)
                and not _SPACE.search(parts.netloc)
            )
            or (scheme == "s3" and bool(parts.netloc) and len(parts.path) > 1)
        )
    )
    if not ok:
        raise ImportFormatError(
            f"{where}: {key!r} must be an http(s):// URL or s3://bucket/key, not {_shorten(url)!r}."
        )
    return url


def _shorten(value: str, length: int = 80) -> str:
    return value if len(value) <= length else value[: length - 1] + "…"


def _n_answers(record: dict[str, Any], key: str | None, where: str) -> int | None:
    value = record.get(key) if key else None
    if value is None or value == "":
        return None
    try:
        return rules.validate_n_answers(value)
    except ValueError as exc:
        raise ImportFormatError(f"{where}: {exc}.") from None


def _priority(record: dict[str, Any], key: str | None, where: str) -> float | None:
    value = record.get(key) if key else None
    if value is None or value == "":
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise ImportFormatError(f"{where}: {key!r} must be a number, not {value!r}.")
    return number


def _gold(
    record: dict[str, Any], key: str | None, where: str, options: Sequence[str]
) -> str | None:
    value = record.get(key) if key else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise ImportFormatError(
            f"{where}: {key!r} must be a string (one of the answer options), not {value!r}."
        )
    gold = value.strip() or None
    error = schemas.gold_error(gold, options)
    if error is not None:
        raise ImportFormatError(f"{where}: the gold answer in {key!r} is refused. {error}")
    return gold
