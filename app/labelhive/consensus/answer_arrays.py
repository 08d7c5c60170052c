"""A project's answers read from the database as compact arrays, a chunk at a time.

What :func:`labelhive.consensus.consensus.aggregate_arrays` takes: ``int32`` task and worker
codes, ``int16`` label codes and the ``int32`` day each answer arrived (whole UTC days since the
epoch, from ``finish_time``: an annotator's agreement per day), ~14 bytes per answer, with no
Python object per answer:

- the label is taken out of ``answer.info`` by the database (the same rule as
  :func:`labelhive.consensus.labels.label_of`: a JSON string, or an object's ``answer``, else
  its ``label``, when that is a string), and coded there against the project's labels, found
  first by one ``GROUP BY``;
- on PostgreSQL the rows come through ``COPY ... TO STDOUT (FORMAT BINARY)``: four ``int4``
  columns make every row 34 bytes, which numpy reads in place (``np.frombuffer``);
- on SQLite (embedded mode, small projects) they come in ``fetchmany`` batches, each turned
  into arrays and dropped;
- the answers of annotators excluded from the project's consensus (``annotator_exclusion``,
  :mod:`labelhive.review.exclusions`) are left out: they stay stored, and count again once the
  exclusion is lifted. :func:`read_excluded` reads them on their own, coded like the others,
  so they can still be compared with the consensus they are no part of.

Only answers up to ``ceiling`` (an answer id) are read, so the labels and the rows agree.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import text

from labelhive.consensus.consensus import AnswerArrays

# rows per chunk handed to numpy (and per SQLite fetch)
CHUNK_ROWS = 1 << 18

_PG_LABEL = """CASE jsonb_typeof(info)
  WHEN 'string' THEN info #>> '{}'
  WHEN 'object' THEN CASE
    WHEN info -> 'answer' IS NOT NULL THEN
      CASE WHEN jsonb_typeof(info -> 'answer') = 'string' THEN info ->> 'answer' END
    WHEN jsonb_typeof(info -> 'label') = 'string' THEN info ->> 'label' END
END"""
# the answer's UTC day (finish_time is stored as naive UTC): days since 1970-01-01
_PG_DAY = "(finish_time::date - DATE '1970-01-01')"
_SQLITE_LABEL = """CASE json_type(info)
  WHEN 'text' THEN json_extract(info, '$')
  WHEN 'object' THEN CASE
    WHEN json_type(info, '$.answer') IS NOT NULL THEN
      CASE WHEN json_type(info, '$.answer') = 'text' THEN json_extract(info, '$.answer') END
    WHEN json_type(info, '$.label') = 'text' THEN json_extract(info, '$.label') END
END"""
_SQLITE_DAY = "(CAST(strftime('%s', finish_time) AS INTEGER) / 86400)"
# COPY BINARY: a 19-byte header, then per row a field count and, per field, length and value
_HEADER = 19


def read(engine: Engine, project_id: int, ceiling: int) -> AnswerArrays:
    """The project's categorical answers with id up to ``ceiling``, and its task ids.

    ``task_ids`` are every task of the project (those without answers too); worker codes
    follow the sorted user ids. Answers to a task that is gone by the time they are read are
    left out.
    """
    with engine.connect() as conn:
        label_sql, day_sql = _dialect_sql(conn)
        where = (
            f"project_id = {int(project_id)} AND id <= {int(ceiling)} AND {_included(project_id)}"
        )
        counted = conn.execute(
            text(
                f"SELECT label, count(*) FROM (SELECT {label_sql} AS label FROM answer"
                f" WHERE {where}) AS a WHERE label IS NOT NULL GROUP BY label ORDER BY label"
            )
        ).all()
        labels = [row[0] for row in counted]
        expected = sum(row[1] for row in counted)
        task_ids = np.concatenate(
            [np.zeros(0, dtype=np.int64)]
            + [
                chunk[:, 0].astype(np.int64)
                for chunk in _int_rows(
                    conn, f"SELECT id FROM task WHERE project_id = {int(project_id)}", 1
                )
            ]
        )
        task_ids.sort()
        case = " ".join(
            f"WHEN {_literal(conn, label)} THEN {code}" for code, label in enumerate(labels)
        )
        query = (
            f"SELECT task_id, user_id, code, day FROM (SELECT task_id, user_id,"
            f" CASE {label_sql} {case} END AS code, {day_sql} AS day FROM answer"
            f" WHERE {where}) AS a WHERE code IS NOT NULL"
            if labels
            else "SELECT 0, 0, 0, 0 WHERE 1 = 0"
        )
        return _collect(_int_rows(conn, query, 4), task_ids, labels, expected)


def read_excluded(
    engine: Engine, project_id: int, ceiling: int, like: AnswerArrays
) -> AnswerArrays:
    """The categorical answers (id up to ``ceiling``) of the project's excluded annotators,
    coded like ``like`` (what :func:`read` returned): its task ids and its labels.

    A label no counted answer has gets code ``-1`` (it can never agree with the consensus);
    answers to tasks ``like`` does not know are left out. Worker codes follow these
    annotators' own sorted user ids.
    """
    with engine.connect() as conn:
        label_sql, day_sql = _dialect_sql(conn)
        anyone = conn.scalar(
            text(f"SELECT 1 FROM annotator_exclusion WHERE project_id = {int(project_id)} LIMIT 1")
        )
        where = (
            f"project_id = {int(project_id)} AND id <= {int(ceiling)}"
            f" AND {_included(project_id, excluded=True)}"
        )
        case = " ".join(
            f"WHEN {_literal(conn, label)} THEN {code}" for code, label in enumerate(like.labels)
        )
        code = f"COALESCE(CASE label {case} END, -1)" if like.labels else "-1"
        query = (
            f"SELECT task_id, user_id, {code}, day FROM (SELECT task_id, user_id,"
            f" {label_sql} AS label, {day_sql} AS day FROM answer WHERE {where}) AS a"
            " WHERE label IS NOT NULL"
            if anyone
            else "SELECT 0, 0, 0, 0 WHERE 1 = 0"
        )
        # few answers, as a rule: the arrays start empty and grow
        return _collect(_int_rows(conn, query, 4), like.task_ids, like.labels, 0)


def _dialect_sql(conn: Connection) -> tuple[str, str]:
    """The expressions of an answer's label and of its day, in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return _PG_LABEL, _PG_DAY
    return _SQLITE_LABEL, _SQLITE_DAY


def _included(project_id: int, *, excluded: bool = False) -> str:
    """Leaves out the answers of annotators an owner excluded from the project's consensus
    (an anti-join on ``annotator_exclusion``'s unique ``(project_id, user_id)`` index), or,
    with ``excluded``, keeps only theirs."""
    return (
        f"{'' if excluded else 'NOT '}EXISTS (SELECT 1 FROM annotator_exclusion AS x"
        f" WHERE x.project_id = {int(project_id)} AND x.user_id = answer.user_id)"
    )


def _literal(conn: Connection, value: str) -> str:
    # labels are data: quoted by the dialect's own literal rendering, never pasted raw
    from sqlalchemy import literal

    return str(literal(value).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def _collect(
    chunks: Iterator[np.ndarray], task_ids: np.ndarray, labels: list[str], expected: int
) -> AnswerArrays:
    """Code the rows into arrays sized once (``expected`` rows, from the label counts)."""
    # typed as plain arrays: np.resize below may replace them
    task: np.ndarray = np.empty(expected, dtype=np.int32)
    worker: np.ndarray = np.empty(expected, dtype=np.int32)
    label: np.ndarray = np.empty(expected, dtype=np.int16)
    day: np.ndarray = np.empty(expected, dtype=np.int32)
    filled = 0
    # user id -> code by first appearance; users are few next to answers
    lookup = np.full(1024, -1, dtype=np.int32)
    user_ids: list[np.ndarray] = []
    n_users = 0
    for chunk in chunks:
        at = np.searchsorted(task_ids, chunk[:, 0])
        found = (at < len(task_ids)) & (task_ids[np.minimum(at, len(task_ids) - 1)] == chunk[:, 0])
        chunk, at = chunk[found], at[found]
        users = chunk[:, 1]
        if len(users) and users.max() >= len(lookup):
            grown = np.full(max(int(users.max()) + 1, 2 * len(lookup)), -1, dtype=np.int32)
            grown[: len(lookup)] = lookup
            lookup = grown
        new = np.unique(users[lookup[users] < 0])
        lookup[new] = np.arange(n_users, n_users + len(new), dtype=np.int32)
        n_users += len(new)
        user_ids.append(new)
        end = filled + len(chunk)
        if end > len(task):
            # an answer committed between the count and the read (ids are not commit order)
            task, worker, label, day = (
                np.resize(a, max(end, 2 * len(a))) for a in (task, worker, label, day)
            )
        task[filled:end] = at
        worker[filled:end] = lookup[users]
        label[filled:end] = chunk[:, 2]
        day[filled:end] = chunk[:, 3]
        filled = end
    first_seen = np.concatenate([np.zeros(0, dtype=np.int64), *user_ids])
    order = np.argsort(first_seen)
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    worker = worker[:filled]
    if len(rank):
        np.take(rank, worker, out=worker)
    return AnswerArrays(
        task=task[:filled],
        worker=worker,
        label=label[:filled],
        task_ids=task_ids,
        worker_ids=first_seen[order],
        labels=labels,
        day=day[:filled],
    )


def _int_rows(conn: Connection, query: str, n_columns: int) -> Iterator[np.ndarray]:
    """``query``'s rows (``n_columns`` non-null integers) as ``(n, n_columns)`` int64 chunks."""
    if conn.dialect.name == "postgresql":
        yield from _copy_rows(conn, query, n_columns)
        return
    result = conn.execution_options(stream_results=True).execute(text(query))
    while batch := result.fetchmany(CHUNK_ROWS):
        yield np.array(batch, dtype=np.int64).reshape(-1, n_columns)


def _copy_rows(conn: Connection, query: str, n_columns: int) -> Iterator[np.ndarray]:
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i in range(n_columns):
        fields += [(f"len{i}", ">i4"), (f"v{i}", ">i4")]
    row = np.dtype(fields)
    names = [f"c{i}" for i in range(n_columns)]
    columns = ", ".join(f"{name}::int4" for name in names)
    sql = (
        f"COPY (SELECT {columns} FROM ({query}) AS q({', '.join(names)})) TO STDOUT (FORMAT BINARY)"
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    pending: list[bytes] = []
    size = 0
    skip = _HEADER
    with cursor.copy(sql) as copy:
        for block in copy:
            pending.append(bytes(block))
            size += len(block)
            if size - skip >= CHUNK_ROWS * row.itemsize:
                buffer = b"".join(pending)
                whole = (len(buffer) - skip) // row.itemsize * row.itemsize
                yield _decode(buffer[skip : skip + whole], row, n_columns)
                pending, size, skip = [buffer[skip + whole :]], len(buffer) - skip - whole, 0
    buffer = b"".join(pending)[skip:]
    # what is left is whole rows, then the trailer (a field count of -1)
    whole = (len(buffer) - 2) // row.itemsize * row.itemsize
    if whole:
        yield _decode(buffer[:whole], row, n_columns)


def _decode(data: bytes, row: np.dtype, n_columns: int) -> np.ndarray:
    records = np.frombuffer(data, dtype=row)
    out = np.empty((len(records), n_columns), dtype=np.int64)
    for i in range(n_columns):
        out[:, i] = records[f"v{i}"]
    return out
