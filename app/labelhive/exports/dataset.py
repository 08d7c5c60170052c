"""The labeled dataset: one row per item with its label and the evidence behind it.

Columns: ``item_id``, ``image`` (the task's image URL or ``s3://`` key, as imported),
``label``, ``confidence``, ``method`` (``dawid_skene``, ``majority_vote``, ``gold`` or
``reviewed``), ``review_state`` (``none``, ``needs_review``, ``reviewed``, ``sent_back``),
``votes`` (answers per option), ``posterior`` (Dawid–Skene's probability per option),
``n_answers``, ``agreement`` (share of answers that agree with the majority), ``gold``,
``gold_answer``, ``split`` (``train``/``validation`` by a stable hash of the item id).

The vote counts are counted from the stored answers while the export runs, so they always match
them exactly. The label comes from the stored consensus (the last recomputation); an item whose
answers changed since then gets the majority vote of its current answers instead
(``method = majority_vote``, confidence = agreement), so a row never contradicts its own votes.
A label a reviewer set (:mod:`labelhive.review`) is the item's label whatever its votes. The
answers of annotators excluded from consensus (:mod:`labelhive.review.exclusions`) are not
counted here either.

Formats: ``jsonl`` (``votes`` and ``posterior`` as objects), ``csv`` (one ``votes_<option>`` and
``p_<option>`` column per option; cells neutralised against formula injection, like
:mod:`labelhive.exports.exports`), ``parquet`` (the same flat columns, typed, one row group per
batch, written to a temporary file and then streamed). Memory stays bounded by a batch.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import os
import tempfile
from collections.abc import Generator
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import select

from labelhive.answers.models import Answer
from labelhive.consensus.labels import DEFAULT_VALIDATION_FRACTION
from labelhive.consensus.labels import label_of
from labelhive.consensus.labels import split_of
from labelhive.consensus.models import AnnotatorExclusion
from labelhive.consensus.models import Consensus
from labelhive.db import table_of
from labelhive.exports.exports import neutralise_cell
from labelhive.projects.models import Project
from labelhive.tasks.images import image_key
from labelhive.tasks.models import Task

FORMATS = ("csv", "jsonl", "parquet")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
BATCH = 2_000
# free-text answers would make one column per distinct answer: past this, votes stay an object
MAX_OPTION_COLUMNS = 200
COLUMNS = (
    "item_id",
    "image",
    "label",
    "confidence",
    "method",
    "review_state",
    "n_answers",
    "agreement",
    "gold",
    "gold_answer",
    "split",
)

T = table_of(Task)
A = table_of(Answer)
C = table_of(Consensus)
P = table_of(Project)
X = table_of(AnnotatorExclusion)


def content_type(fmt: str) -> str:
    """:raise ValueError: for an unknown format."""
    try:
        return CONTENT_TYPES[fmt]
    except KeyError:
        raise ValueError(
            f"Unknown dataset format {fmt!r}; use one of {', '.join(FORMATS)}."
        ) from None


def validation_fraction(value: Any) -> float:
    """Parse ``?validation=0.2``; ``None`` gives the default.

    :raise ValueError: not a number between 0 and 1.
    """
    if value is None or value == "":
        return DEFAULT_VALIDATION_FRACTION
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"validation must be a number between 0 and 1, not {value!r}") from None
    if not 0 <= fraction <= 1:
        raise ValueError(f"validation must be between 0 and 1, not {fraction}")
    return fraction


def options_of(engine: Engine, project_id: int) -> list[str]:
    """The project's answer options, then any other answered or gold label (sorted)."""
    with engine.connect() as conn:
        info = conn.scalar(select(P.c.info).where(P.c.id == project_id)) or {}
        answered = conn.scalars(
            select(A.c.info).where(A.c.project_id == project_id).distinct().limit(10_000)
        ).all()
        gold = conn.scalars(
            select(T.c.gold_answer)
            .where(T.c.project_id == project_id, T.c.gold_answer.is_not(None))
            .distinct()
        ).all()
    listed = info.get("answers") if isinstance(info, dict) else None
    known = list(dict.fromkeys(str(o) for o in listed)) if isinstance(listed, list) else []
    extra = {label_of(i) for i in answered} | set(gold)
    return known + sorted(x for x in extra - set(known) if x is not None)


def _majority(votes: dict[str, int], options: Sequence[str]) -> str | None:
    if not votes:
        return None
    order = {label: n for n, label in enumerate(options)}
    return max(votes, key=lambda label: (votes[label], -order.get(label, len(order))))


def iter_rows(
    engine: Engine,
    project_id: int,
    *,
    options: Sequence[str] | None = None,
    validation: float = DEFAULT_VALIDATION_FRACTION,
    batch_size: int = BATCH,
) -> Generator[list[dict[str, Any]], None, None]:
    """The dataset's rows in item id order, one list per batch of tasks."""
    options = list(options) if options is not None else options_of(engine, project_id)
    ceiling_task = None
    with engine.connect() as conn:
        ceiling_task = conn.scalar(
            select(T.c.id).where(T.c.project_id == project_id).order_by(T.c.id.desc()).limit(1)
        )
    after = 0
    while ceiling_task is not None:
        with engine.connect() as conn:
            tasks = conn.execute(
                select(T.c.id, T.c.info, T.c.gold_answer)
                .where(T.c.project_id == project_id, T.c.id > after, T.c.id <= ceiling_task)
                .order_by(T.c.id)
                .limit(batch_size)
            ).all()
            if not tasks:
                return
            ids = [t.id for t in tasks]
            # as consensus reads them: an excluded annotator's answers are no votes
            answers = conn.execute(
                select(A.c.task_id, A.c.info).where(
                    A.c.task_id.in_(ids),
                    A.c.user_id.not_in(select(X.c.user_id).where(X.c.project_id == project_id)),
                )
            ).all()
            stored = {
                row.task_id: row
                for row in conn.execute(
                    select(
                        C.c.task_id,
                        C.c.label,
                        C.c.confidence,
                        C.c.method,
                        C.c.votes,
                        C.c.posterior,
                        C.c.review_state,
                    ).where(C.c.task_id.in_(ids))
                )
            }
        votes: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        answered: collections.Counter[int] = collections.Counter()
        for task_id, info in answers:
            answered[task_id] += 1
            label = label_of(info)
            if label is not None:
                votes[task_id][label] += 1
        yield [
            _row(
                task,
                dict(votes.get(task.id, {})),
                answered[task.id],
                stored.get(task.id),
                options,
                validation,
            )
            for task in tasks
        ]
        after = tasks[-1].id
        if len(tasks) < batch_size:
            return


def _row(
    task: Any,
    votes: dict[str, int],
    n_answers: int,
    stored: Any,
    options: Sequence[str],
    validation: float,
) -> dict[str, Any]:
    key = image_key(task.info)
    total = sum(votes.values())
    majority = _majority(votes, options)
    agreement = votes[majority] / total if majority is not None else 0.0
    posterior: dict[str, float] = {}
    review_state = stored.review_state if stored is not None else "none"
    if stored is not None and stored.review_state == "reviewed":
        label, confidence, method = stored.label, stored.confidence, stored.method
        posterior = dict(stored.posterior or {})
    elif task.gold_answer is not None:
        label, confidence, method = task.gold_answer, 1.0, "gold"
        if stored is not None:
            posterior = dict(stored.posterior or {})
    elif stored is not None and dict(stored.votes or {}) == votes:
        label, confidence, method = stored.label, stored.confidence, stored.method
        posterior = dict(stored.posterior or {})
    else:
        # no consensus stored yet for these answers: the majority of the current votes
        label, confidence, method = majority, agreement, "majority_vote"
    return {
        "item_id": task.id,
        "image": task.info[key] if key is not None else None,
        "label": label,
        "confidence": round(float(confidence), 6),
        "method": method,
        "review_state": review_state,
        "votes": {o: votes.get(o, 0) for o in options}
        | {k: v for k, v in votes.items() if k not in options},
        "posterior": {o: round(float(posterior.get(o, 0.0)), 6) for o in options}
        if posterior
        else {},
        "n_answers": n_answers,
        "agreement": round(agreement, 6),
        "gold": task.gold_answer is not None,
        "gold_answer": task.gold_answer,
        "split": split_of(task.id, validation),
    }


def stream(
    engine: Engine,
    project_id: int,
    fmt: str,
    *,
    validation: float = DEFAULT_VALIDATION_FRACTION,
    batch_size: int = BATCH,
) -> Iterator[bytes]:
    """The dataset as a stream of byte chunks in ``fmt``; the caller checks access.

    :raise ValueError: an unknown format (before anything is read).
    """
    content_type(fmt)
    options = options_of(engine, project_id)
    batches = iter_rows(
        engine, project_id, options=options, validation=validation, batch_size=batch_size
    )
    if fmt == "jsonl":
        return _jsonl(batches)
    if fmt == "csv":
        return _csv(batches, options)
    return _parquet(batches, options)


def _jsonl(batches: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    for rows in batches:
        yield "".join(
            json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows
        ).encode("utf-8")


def _flat_columns(options: Sequence[str]) -> tuple[list[str], bool]:
    """The per-option columns, or none (votes as one JSON column) when there are too many."""
    if len(options) > MAX_OPTION_COLUMNS:
        return [], False
    return [f"votes_{o}" for o in options] + [f"p_{o}" for o in options], True


def _flatten(row: dict[str, Any], options: Sequence[str], flat: bool) -> dict[str, Any]:
    out = {name: row[name] for name in COLUMNS}
    if flat:
        votes, posterior = row["votes"], row["posterior"]
        out.update({f"votes_{o}": votes.get(o, 0) for o in options})
        out.update({f"p_{o}": posterior.get(o) if posterior else None for o in options})
    else:
        out["votes"] = json.dumps(row["votes"], ensure_ascii=False)
        out["posterior"] = json.dumps(row["posterior"], ensure_ascii=False)
    return out


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return neutralise_cell(value)
    return str(value)


def _csv(batches: Iterator[list[dict[str, Any]]], options: Sequence[str]) -> Iterator[bytes]:
    extra, flat = _flat_columns(options)
    header = list(COLUMNS) + (extra if flat else ["votes", "posterior"])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise_cell(name) for name in header])
    yield b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
    for rows in batches:
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            flatrow = _flatten(row, options, flat)
            writer.writerow([_csv_cell(flatrow[name]) for name in header])
        yield buffer.getvalue().encode("utf-8")


def _parquet(batches: Iterator[list[dict[str, Any]]], options: Sequence[str]) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    extra, flat = _flat_columns(options)
    fields = [
        pa.field("item_id", pa.int64()),
        pa.field("image", pa.string()),
        pa.field("label", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("method", pa.string()),
        pa.field("review_state", pa.string()),
        pa.field("n_answers", pa.int32()),
        pa.field("agreement", pa.float64()),
        pa.field("gold", pa.bool_()),
        pa.field("gold_answer", pa.string()),
        pa.field("split", pa.string()),
    ]
    if flat:
        fields += [pa.field(f"votes_{o}", pa.int32()) for o in options]
        fields += [pa.field(f"p_{o}", pa.float64()) for o in options]
    else:
        fields += [pa.field("votes", pa.string()), pa.field("posterior", pa.string())]
    schema = pa.schema(fields)
    handle, path = tempfile.mkstemp(prefix="labelhive-dataset-", suffix=".parquet")
    os.close(handle)
    try:
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            wrote = False
            for rows in batches:
                flat_rows = [_flatten(row, options, flat) for row in rows]
                writer.write_table(pa.Table.from_pylist(flat_rows, schema=schema))
                wrote = True
            if not wrote:
                writer.write_table(schema.empty_table())
        with open(path, "rb") as data:
            while chunk := data.read(1 << 20):
                yield chunk
    finally:
        os.unlink(path)
