"""The SQL of rechecking stored stories: page validators, which stories are due, and revisions.

A revision keeps the text an article had before it (`article_revisions`); the article then holds
the new text, with its hash, band keys and mentions replaced, so copy detection and the watchlist
see the story as it reads now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa

from warehouse.store import MENTION_SCHEMA, Warehouse

CHECK_SCHEMA = pa.schema([("article_id", pa.int64()), ("etag", pa.string()), ("last_modified", pa.string())])
RESULT_SCHEMA = pa.schema(
    [
        ("article_id", pa.int64()),
        ("etag", pa.string()),
        ("last_modified", pa.string()),
        ("checked_at", pa.timestamp("us", tz="UTC")),
        ("last_status", pa.int32()),
        ("last_error", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class StoredPage:
    """A stored story due for a recheck: what to ask for, and the text to compare with."""

    article_id: int
    url: str
    title: str | None
    text: str
    text_hash: str
    etag: str | None
    last_modified: str | None
    feed: str | None = None
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Revision:
    """A material change of a story's text: the old text is kept, the new one replaces it."""

    article_id: int
    old_text: str
    new_text: str
    text_hash: str
    word_count: int
    band_keys: tuple[int, ...]
    words_added: int
    words_removed: int
    similarity: float | None
    change: str
    mentions: tuple[dict, ...]  # the article's mentions in the new text (replacing the old ones)


def insert_checks(wh: Warehouse, rows: Sequence[tuple[int, str | None, str | None]]) -> None:
    """The validators of newly stored pages (article_id, etag, last_modified)."""
    if not rows:
        return
    t = pa.Table.from_pylist(
        [{"article_id": a, "etag": e, "last_modified": m} for a, e, m in rows], schema=CHECK_SCHEMA
    )
    wh.con.register("new_checks", t)
    try:
        wh.con.execute(
            "INSERT INTO article_checks (article_id, etag, last_modified) "
            "SELECT article_id, etag, last_modified FROM new_checks ON CONFLICT DO NOTHING"
        )
    finally:
        wh.con.unregister("new_checks")


def due_rechecks(
    wh: Warehouse, now: datetime, *, hours: float, minutes: float, run_id: int, limit: int
) -> list[StoredPage]:
    """Stories younger than `hours` (by their date, else when first seen) whose page was last
    checked (or stored) at least `minutes` ago, the stalest first; not those this run stored."""
    rows = wh.con.execute(
        """
        SELECT a.article_id, a.url, a.title, a.text, a.text_hash, c.etag, c.last_modified, a.feed, a.lang
        FROM articles a LEFT JOIN article_checks c USING (article_id)
        WHERE a.feed <> 'seed' AND a.text_source = 'page' AND a.run_id IS DISTINCT FROM ?
          AND coalesce(a.published_at, a.first_seen) >= ?
          AND coalesce(c.checked_at, a.first_seen) <= ?
        ORDER BY coalesce(c.checked_at, a.first_seen), a.article_id
        LIMIT ?
        """,
        [run_id, now - timedelta(hours=hours), now - timedelta(minutes=minutes), limit],
    ).fetchall()
    return [StoredPage(*r) for r in rows]


def mention_names(wh: Warehouse, article_ids: Sequence[int]) -> dict[int, set[tuple[str, str]]]:
    """(kind, name) of each article's stored mentions."""
    if not article_ids:
        return {}
    rows = wh.con.execute(
        "SELECT article_id, kind, name FROM mentions WHERE list_contains(?, article_id)", [list(article_ids)]
    ).fetchall()
    out: dict[int, set[tuple[str, str]]] = {}
    for aid, kind, name in rows:
        out.setdefault(aid, set()).add((kind, name))
    return out


def record_checks(wh: Warehouse, rows: Sequence[dict]) -> None:
    """The outcome of a run's rechecks: validators (kept when the answer had none), time, status."""
    if not rows:
        return
    wh.con.register("check_results", pa.Table.from_pylist(list(rows), schema=RESULT_SCHEMA))
    try:
        wh.con.execute(
            """
            INSERT INTO article_checks (article_id, etag, last_modified, checked_at, last_status, last_error)
            SELECT article_id, etag, last_modified, checked_at, last_status, last_error FROM check_results
            ON CONFLICT (article_id) DO UPDATE SET
                etag = coalesce(excluded.etag, article_checks.etag),
                last_modified = coalesce(excluded.last_modified, article_checks.last_modified),
                checked_at = excluded.checked_at, last_status = excluded.last_status,
                last_error = excluded.last_error
            """
        )
    finally:
        wh.con.unregister("check_results")


def store_revision(wh: Warehouse, r: Revision, now: datetime, run_id: int) -> None:
    """Keep the old text, give the article the new one (hash, word count, band keys, mentions).
    Call inside a transaction, with the run's update alerts."""
    con = wh.con
    con.execute(
        "INSERT INTO article_revisions VALUES (nextval('revision_id_seq'), ?, ?, ?, ?, ?, ?, ?, ?)",
        [r.article_id, now, run_id, r.old_text, r.words_added, r.words_removed, r.similarity, r.change],
    )
    con.execute(
        "UPDATE articles SET text = ?, text_hash = ?, word_count = ? WHERE article_id = ?",
        [r.new_text, r.text_hash, r.word_count, r.article_id],
    )
    con.execute("DELETE FROM article_bands WHERE article_id = ?", [r.article_id])
    wh.insert_articles([], [(k, r.article_id) for k in r.band_keys])
    _replace_mentions(wh, r.article_id, r.mentions)


def _replace_mentions(wh: Warehouse, article_id: int, mentions: Sequence[dict]) -> None:
    """The article's mentions become those of its new text: gone ones deleted, kept ones updated
    (their run_id, the run that first found them, stays), new ones inserted with the revision's run."""
    keep = [[m["kind"], m["name"]] for m in mentions]
    wh.con.execute(
        "DELETE FROM mentions WHERE article_id = ? AND NOT list_contains(?, [kind, name])", [article_id, keep]
    )
    if not mentions:
        return
    wh.con.register("revised_mentions", pa.Table.from_pylist(list(mentions), schema=MENTION_SCHEMA))
    try:
        wh.con.execute(
            """
            INSERT INTO mentions (article_id, kind, name, alias, count, snippet, run_id, first_offset)
            SELECT article_id, kind, name, alias, count, snippet, run_id, first_offset FROM revised_mentions
            ON CONFLICT (article_id, kind, name) DO UPDATE SET alias = excluded.alias, count = excluded.count,
                snippet = excluded.snippet, first_offset = excluded.first_offset
            """
        )
    finally:
        wh.con.unregister("revised_mentions")
