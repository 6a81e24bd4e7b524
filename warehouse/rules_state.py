"""Statements for alert rules: mutes, what the archive was last matched with, retro-matching's reads
and writes, and reading stored stories back (retro-matching, the read-only rule preview).

`RulesStore` wraps the writer's Warehouse; `stored_stories` works on any connection, the
read-only one of `newswatch rules test` included.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

import duckdb
import pyarrow as pa

from extractors.records import StoredStory
from warehouse.store import MENTION_SCHEMA, Warehouse, now_utc

ARCHIVE_KIND = "archive"
_STORY_COLUMNS = "article_id, title, text, feed, lang, url, published_at, first_seen, run_id"


def stored_stories(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    batch_size: int = 2000,
    seeds: bool = False,
    newest_first: bool = False,
) -> Iterator[list[StoredStory]]:
    """Every stored story (first seen at or after `since`; seeds only if asked), in batches, in the
    table's order or newest first. Read through a cursor of its own (a connection to the same
    database), so the caller may write on `con` between batches; unordered, the rows stream
    (the texts of a large archive are never all in memory; an ORDER BY over the whole table made
    DuckDB decompress them all, and paging with LIMIT decompressed them again for every page)."""
    where = ["TRUE" if seeds else "feed <> 'seed'"]
    params: list = []
    if since is not None:
        where.append("first_seen >= ?")
        params.append(since)
    order = " ORDER BY first_seen DESC, article_id DESC" if newest_first else ""
    cursor = con.cursor()
    try:
        result = cursor.execute(
            f"SELECT {_STORY_COLUMNS} FROM articles WHERE {' AND '.join(where)}{order}", params
        )
        while rows := result.fetchmany(batch_size):
            yield [StoredStory(*row) for row in rows]
    finally:
        cursor.close()


class RulesStore:
    """The rule statements of one writer (a Warehouse opened for a run or a CLI command)."""

    def __init__(self, wh: Warehouse):
        self.wh = wh

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.wh.con

    # ---- mutes --------------------------------------------------------------------------------

    def mute(self, rule: str, until: datetime, now: datetime | None = None) -> None:
        self.con.execute(
            "INSERT INTO rule_mutes VALUES (?, ?, ?) ON CONFLICT (rule) DO UPDATE SET "
            "until = excluded.until, muted_at = excluded.muted_at",
            [rule, until, now or now_utc()],
        )

    def unmute(self, rule: str) -> bool:
        """Lift a mute; False when the rule was not muted (or its mute had run out)."""
        rows = self.con.execute("DELETE FROM rule_mutes WHERE rule = ? RETURNING until", [rule]).fetchall()
        return bool(rows) and rows[0][0] > now_utc()

    def mutes(self, now: datetime | None = None) -> dict[str, datetime]:
        """rule -> until, for the mutes still running."""
        return dict(
            self.con.execute(
                "SELECT rule, until FROM rule_mutes WHERE until > ? ORDER BY rule", [now or now_utc()]
            ).fetchall()
        )

    # ---- what the archive was last matched with ----------------------------------------------

    def matcher_state(self) -> dict[str, str]:
        return dict(self.con.execute("SELECT name, hash FROM matcher_state").fetchall())

    def save_matcher_state(self, hashes: Mapping[str, str], run_id: int | None) -> None:
        """Remember `hashes` as what the archive is now matched with (and forget removed rules)."""
        table = pa.table({"name": list(hashes), "hash": list(hashes.values())})
        self.wh._register("new_state", table)
        with self.wh.transaction():
            self.con.execute("DELETE FROM matcher_state WHERE name NOT IN (SELECT name FROM new_state)")
            self.con.execute(
                "INSERT INTO matcher_state SELECT name, hash, ?, ? FROM new_state "
                "ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, run_id = excluded.run_id, "
                "updated_at = excluded.updated_at WHERE matcher_state.hash <> excluded.hash",
                [run_id, now_utc()],
            )
        self.con.unregister("new_state")

    # ---- retro-matching -----------------------------------------------------------------------

    def story_batches(self, batch_size: int = 2000) -> Iterator[list[StoredStory]]:
        """Every stored story, seeds included (they get mentions too)."""
        return stored_stories(self.con, batch_size=batch_size, seeds=True)

    def mention_keys(self, article_ids: Sequence[int]) -> dict[int, set[tuple[str, str]]]:
        """article_id -> the (kind, name) of its stored mentions."""
        if not article_ids:
            return {}
        self.wh._register("q_ids", pa.table({"article_id": pa.array(list(article_ids), pa.int64())}))
        rows = self.con.execute(
            "SELECT m.article_id, m.kind, m.name FROM mentions m JOIN q_ids USING (article_id)"
        ).fetchall()
        self.con.unregister("q_ids")
        out: dict[int, set[tuple[str, str]]] = {}
        for article_id, kind, name in rows:
            out.setdefault(article_id, set()).add((kind, name))
        return out

    def record_mentions(self, columns: Mapping[str, list], run_id: int) -> int:
        """Store the mentions (columns of MENTION_SCHEMA, run_id aside) not stored yet, as found by
        `run_id`; returns how many were new."""
        if not columns.get("article_id"):
            return 0
        size = len(columns["article_id"])
        table = pa.table(
            {
                field.name: pa.array(
                    [run_id] * size if field.name == "run_id" else columns[field.name], field.type
                )
                for field in MENTION_SCHEMA
            }
        )
        self.wh._register("retro_mentions", table)
        (new,) = self.con.execute(  # an INSERT's result is how many rows it inserted
            """
            INSERT INTO mentions (article_id, kind, name, alias, count, snippet, run_id, first_offset)
            SELECT DISTINCT ON (article_id, kind, name)
                   article_id, kind, name, alias, count, snippet, run_id, first_offset
            FROM retro_mentions
            ON CONFLICT DO NOTHING
            """
        ).fetchone()
        self.con.unregister("retro_mentions")
        return new

    def record_archive_matches(self, run_id: int, matches: Sequence[tuple[str, int]]) -> int:
        """Record (rule, article_id) matches of stories stored before `run_id`; stories of that run,
        seeds, and stories the rule already alerted about are left out. Returns how many were kept."""
        if not matches:
            return 0
        table = pa.table(
            {
                "rule": pa.array([m[0] for m in matches], pa.string()),
                "article_id": pa.array([m[1] for m in matches], pa.int64()),
            }
        )
        self.wh._register("retro_matches", table)
        kept = self.con.execute(
            """
            INSERT INTO archive_matches
            SELECT DISTINCT ?, m.rule, m.article_id
            FROM retro_matches m JOIN articles a USING (article_id)
            WHERE a.feed <> 'seed' AND a.run_id IS DISTINCT FROM ?
              AND NOT EXISTS (SELECT 1 FROM alerts al WHERE al.rule = m.rule AND al.article_id = m.article_id)
            ON CONFLICT DO NOTHING
            """,
            [run_id, run_id],
        ).fetchone()[0]
        self.con.unregister("retro_matches")
        return kept

    def archive_counts(self, run_id: int) -> dict[str, int]:
        """rule -> old stories it matches, as recorded by `run_id`."""
        return dict(
            self.con.execute(
                "SELECT rule, count(*) FROM archive_matches WHERE run_id = ? GROUP BY rule ORDER BY rule",
                [run_id],
            ).fetchall()
        )

    def queue_archive_alerts(self, run_id: int, channels: Mapping[str, Sequence[str]]) -> int:
        """One outbox row per rule with archive matches in `run_id` and per channel of that rule
        (`channels`: rule -> its channels); delivery puts a channel's rows into one message."""
        now = now_utc()
        rows = [
            {
                "rule": rule,
                "article_id": None,
                "channel": channel,
                "created_at": now,
                "subject": f"archive matches of rule {rule} (run {run_id})",
                "kind": ARCHIVE_KIND,
                "run_id": run_id,
            }
            for rule in self.archive_counts(run_id)
            for channel in channels.get(rule, ())
        ]
        return self.wh.insert_alerts(rows)
