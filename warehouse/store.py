"""The Warehouse: opens the DuckDB file, migrates it, and holds every SQL statement of the pipeline.

Readers and the writer never share a file. DuckDB lets one process write a file, and while any
process has it open (even read-only) nobody can open it for writing. Analysts keep sessions open for
hours, so the writer works on a private file beside the configured one (`<path>.writer`) and, after
each run, publishes a consistent copy to the configured path by atomic rename. Sessions already open
keep reading the snapshot they opened; new sessions see the new one. A lock file keeps two writers
(two overlapping runs) apart.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from warehouse.errors import WarehouseError
from warehouse.lock import WriterLock
from warehouse.migrations import MIGRATIONS

# An alert still undelivered after this many runs is marked failed (with its last error) and no
# longer retried; transient outages of a few hours at a 15-minute schedule stay well inside it.
MAX_DELIVERY_ATTEMPTS = 10


def writer_path(published: Path) -> Path:
    return published.with_name(published.name + ".writer")


def now_utc() -> datetime:
    return datetime.now(UTC)


_UNCHANGED = "the published warehouse is unchanged (the next run starts from what was committed)"
# What a storage failure says, as the operating system words it (DuckDB quotes strerror): these
# need the operator (free space, a quota, a disk), not a developer.
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)
_STORAGE_MESSAGES = tuple(os.strerror(n) for n in _STORAGE_ERRNOS)


def storage_failure(error: BaseException) -> str | None:
    """One line naming a storage failure (\"No space left on device\" and the file), or None when
    `error` is something else."""
    text = str(error)
    for message in _STORAGE_MESSAGES:
        if message in text:
            match = re.search(r'(?:write|open|create|read|sync)[^"]*"([^"]+)"', text)
            where = f" writing {match.group(1)}" if match else ""
            return f"{message.lower()}{where}"
    if isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS:
        return f"{os.strerror(error.errno).lower()} writing {error.filename}"
    return None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _close_quietly(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.close()
    except duckdb.Error:
        pass  # a connection whose database failed (a FATAL error) may refuse to close cleanly


def _copy_atomically(source: Path, target: Path, what: str) -> None:
    """Copy `source` to `target` through a temporary file beside it, renamed when whole and synced,
    so `target` is the old file or the new one, never a part; the temporary file never outlives
    a failure."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        reason = storage_failure(e) or f"{e.strerror or e}"
        raise WarehouseError(f"{target}: {what}: {reason}; {_UNCHANGED}") from None


@dataclass(frozen=True, slots=True)
class FeedState:
    name: str
    url: str
    enabled: bool
    etag: str | None
    last_modified: str | None
    error_streak: int
    next_poll_at: datetime | None
    alerted_streak: int
    last_error: str | None = None
    moved_to: str | None = None  # where the feed's URL permanently redirects, when it does


@dataclass(frozen=True, slots=True)
class LedgerRow:
    feed: str
    entry_key: str
    url: str | None
    guid: str | None
    title: str | None
    outcome: str
    reason: str | None
    article_id: int | None = None
    retry: bool = False


def apply_migrations(
    con: duckdb.DuckDBPyConnection, migrations: Sequence[tuple[str, str]] = MIGRATIONS
) -> list[str]:
    """Apply the migrations not yet recorded in `schema_migrations`, each in its own transaction, in
    order; returns the versions applied. (A prefix of MIGRATIONS makes the warehouse of an earlier
    release, for tests of an upgrade.)"""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
    )
    done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, sql in migrations:
        if version in done:
            continue
        con.execute("BEGIN")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [version, now_utc()])
            con.execute("COMMIT")
        except duckdb.Error as e:
            con.execute("ROLLBACK")
            raise WarehouseError(f"migration {version} failed: {e}") from None
        applied.append(version)
    return applied


def _arrow(rows: Sequence[dict], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=schema)


ARTICLE_SCHEMA = pa.schema(
    [
        ("article_id", pa.int64()),
        ("url", pa.string()),
        ("title", pa.string()),
        ("published_at", pa.timestamp("us", tz="UTC")),
        ("feed", pa.string()),
        ("lang", pa.string()),
        ("author", pa.string()),
        ("text", pa.string()),
        ("text_source", pa.string()),
        ("text_hash", pa.string()),
        ("word_count", pa.int32()),
        ("guid", pa.string()),
        ("first_seen", pa.timestamp("us", tz="UTC")),
        ("run_id", pa.int64()),
    ]
)
BAND_SCHEMA = pa.schema([("band_key", pa.int64()), ("article_id", pa.int64())])
DUPLICATE_SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("feed", pa.string()),
        ("title", pa.string()),
        ("seen_at", pa.timestamp("us", tz="UTC")),
        ("duplicate_of", pa.int64()),
        ("method", pa.string()),
        ("similarity", pa.float64()),
        ("run_id", pa.int64()),
    ]
)
ENTRY_SCHEMA = pa.schema(
    [
        ("feed", pa.string()),
        ("entry_key", pa.string()),
        ("url", pa.string()),
        ("guid", pa.string()),
        ("title", pa.string()),
        ("outcome", pa.string()),
        ("reason", pa.string()),
        ("article_id", pa.int64()),
        ("retry", pa.bool_()),
        ("seen_at", pa.timestamp("us", tz="UTC")),
        ("run_id", pa.int64()),
    ]
)
MENTION_SCHEMA = pa.schema(
    [
        ("article_id", pa.int64()),
        ("kind", pa.string()),
        ("name", pa.string()),
        ("alias", pa.string()),
        ("count", pa.int32()),
        ("snippet", pa.string()),
        ("run_id", pa.int64()),  # absent: the run that stored the article
        ("first_offset", pa.int32()),
    ]
)
MATCHED_TYPE = pa.list_(
    pa.struct(
        [
            ("term", pa.string()),
            ("snippet", pa.string()),
            ("start", pa.int32()),
            ("end", pa.int32()),
            ("offset", pa.int32()),
        ]
    )
)
ALERT_SCHEMA = pa.schema(
    [
        ("rule", pa.string()),
        ("article_id", pa.int64()),
        ("channel", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("subject", pa.string()),
        ("kind", pa.string()),  # absent: story, or operational when there is no article
        ("run_id", pa.int64()),
        ("matched", MATCHED_TYPE),
    ]
)
FEED_POLL_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("outcome", pa.string()),
        ("status", pa.int32()),
        ("etag", pa.string()),
        ("last_modified", pa.string()),
        ("error", pa.string()),
        ("items", pa.int64()),
        ("next_poll_at", pa.timestamp("us", tz="UTC")),
        ("disable", pa.bool_()),
        ("polled_at", pa.timestamp("us", tz="UTC")),
        ("moved_to", pa.string()),  # FeedPoll.moved_to (absent: not moved)
    ]
)


def run_articles(con: duckdb.DuckDBPyConnection, run_id: int, limit: int | None) -> tuple[list[dict], int]:
    """The first `limit` articles (all: None) a run stored, in the order stored, and how many it
    stored, seeds excepted: for its summary, from the writer or from the published copy."""
    where = "FROM articles WHERE run_id = ? AND feed <> 'seed'"
    total = con.execute(f"SELECT count(*) {where}", [run_id]).fetchall()[0][0]
    rows = con.execute(
        f"SELECT article_id, title, feed, url {where} ORDER BY article_id LIMIT ?",
        [run_id, total if limit is None else limit],
    ).fetchall()
    return [dict(zip(("article_id", "title", "feed", "url"), r, strict=True)) for r in rows], total


class Warehouse:
    """The single writer of a newswatch warehouse. Use `Warehouse.open(path)` as a context manager."""

    def __init__(self, published: Path, con: duckdb.DuckDBPyConnection):
        self.published = published
        self.con = con

    # ---- opening, migrating, publishing -------------------------------------------------------

    @classmethod
    @contextmanager
    def open(cls, published: Path | str, *, publish: bool = True):
        """Lock, open the private writer file (created from the published copy if needed), migrate.

        On a clean exit the writer file is published to `published`; on an error it is still
        published when `publish` so that what was committed becomes visible. A storage failure
        (disk full, quota, read-only or failing disk), in the run or in publishing, ends in one
        WarehouseError naming it; the published copy is then the previous run's, whole, and the
        next run starts from what the writer file committed.
        """
        published = Path(published)
        published.parent.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(published)
        lock.acquire()
        wh = None
        failure: BaseException | None = None
        try:
            wpath = writer_path(published)
            if not wpath.exists() and published.exists():
                _copy_atomically(published, wpath, "cannot adopt the warehouse")
            try:
                con = duckdb.connect(str(wpath))
            except duckdb.Error as e:
                raise WarehouseError(f"{wpath}: cannot open the warehouse: {_first_line(e)}") from None
            con.execute("SET TimeZone = 'UTC'")
            wh = cls(published, con)
            wh.migrate()
            wh.close_crashed_runs()
            yield wh
        except duckdb.Error as e:
            failure = e
            if storage_failure(e) is None:
                raise  # a bug: its traceback is what a developer needs
            raise WarehouseError(f"{published}: {storage_failure(e)}; {_UNCHANGED}") from None
        except BaseException as e:
            failure = e
            raise
        finally:
            try:
                if wh is not None:
                    try:
                        if publish:
                            wh.publish()
                    except WarehouseError:
                        if failure is None:
                            raise
                        # The run failed first (for the same reason, as a rule: the disk is full);
                        # its error is the one to report, not the publishing that could not follow.
                    finally:
                        wh.close()
            finally:
                lock.release()

    def migrate(self) -> list[str]:
        return apply_migrations(self.con)

    def publish(self) -> None:
        """Copy the writer file to the configured path atomically (readers never see a partial file).
        Raises WarehouseError when it cannot: the published copy is then unchanged, and no
        temporary copy is left beside it."""
        if self.con is None:
            return
        con, self.con = self.con, None
        try:
            con.execute("CHECKPOINT")
        except duckdb.Error as e:
            raise WarehouseError(
                f"{self.published}: cannot publish: {storage_failure(e) or _first_line(e)}; {_UNCHANGED}"
            ) from None
        finally:
            _close_quietly(con)
        _copy_atomically(writer_path(self.published), self.published, "cannot publish")

    def close(self) -> None:
        if self.con is not None:
            _close_quietly(self.con)
            self.con = None

    @contextmanager
    def transaction(self):
        self.con.execute("BEGIN")
        try:
            yield self.con
        except BaseException:
            try:
                self.con.execute("ROLLBACK")
            except duckdb.Error:
                pass  # the database failed (disk full): the error raised below is the cause
            raise
        self.con.execute("COMMIT")

    def _register(self, name: str, table: pa.Table):
        self.con.register(name, table)
        return name

    # ---- runs -----------------------------------------------------------------------------------

    def start_run(self) -> int:
        run_id = self.con.execute("SELECT nextval('run_id_seq')").fetchall()[0][0]
        self.con.execute(
            "INSERT INTO runs (run_id, started_at, status) VALUES (?, ?, 'running')", [run_id, now_utc()]
        )
        return run_id

    def finish_run(self, run_id: int, status: str, counts: dict[str, int | bool | str | None]) -> None:
        cols = [c for c in counts if c.isidentifier()]
        sets = ", ".join(f"{c} = ?" for c in cols)
        self.con.execute(
            f"UPDATE runs SET status = ?, finished_at = ?{', ' if sets else ''}{sets} WHERE run_id = ?",
            [status, now_utc(), *[counts[c] for c in cols], run_id],
        )

    def close_crashed_runs(self) -> int:
        """Runs still `running` belong to a process that died (whoever holds the lock is the only
        writer, and it has not started a run yet): they are closed as `crashed`."""
        return self.con.execute(
            "UPDATE runs SET status = 'crashed', finished_at = ?, note = ? WHERE status = 'running'",
            [now_utc(), "its process ended without closing the run (killed, or the host went down)"],
        ).fetchall()[0][0]

    def previous_run_was_outage(self, run_id: int) -> bool:
        rows = self.con.execute(
            "SELECT outage FROM runs WHERE run_id < ? AND status <> 'running' ORDER BY run_id DESC LIMIT 1",
            [run_id],
        ).fetchall()
        return bool(rows and rows[0][0])

    # ---- feeds ----------------------------------------------------------------------------------

    def sync_feeds(self, feeds: Iterable[tuple[str, str, bool]]) -> None:
        """Make the feeds table match the config: new feeds added, URLs updated.

        A feed disabled by the config is disabled here; re-enabling it in the config (after a 410)
        clears the disabled state only when its URL changed or `enable_feed` is called.
        """
        rows = [{"name": n, "url": u, "enabled": e} for n, u, e in feeds]
        if not rows:
            return
        t = pa.Table.from_pylist(rows)
        self.con.register("cfg_feeds", t)
        self.con.execute(
            """
            INSERT INTO feeds (name, url, enabled)
            SELECT name, url, enabled FROM cfg_feeds
            ON CONFLICT (name) DO UPDATE SET
                enabled = CASE WHEN excluded.url <> feeds.url THEN excluded.enabled
                               WHEN NOT excluded.enabled THEN FALSE
                               WHEN feeds.disabled_reason IS NULL THEN TRUE
                               ELSE feeds.enabled END,
                disabled_reason = CASE WHEN excluded.url <> feeds.url THEN NULL
                                       WHEN NOT excluded.enabled THEN 'disabled in config'
                                       WHEN feeds.disabled_reason = 'disabled in config' THEN NULL
                                       ELSE feeds.disabled_reason END,
                error_streak = CASE WHEN excluded.url <> feeds.url THEN 0 ELSE feeds.error_streak END,
                alerted_streak = CASE WHEN excluded.url <> feeds.url THEN 0 ELSE feeds.alerted_streak END,
                next_poll_at = CASE WHEN excluded.url <> feeds.url THEN NULL ELSE feeds.next_poll_at END,
                etag = CASE WHEN excluded.url <> feeds.url THEN NULL ELSE feeds.etag END,
                last_modified = CASE WHEN excluded.url <> feeds.url THEN NULL ELSE feeds.last_modified END,
                moved_to = CASE WHEN excluded.url <> feeds.url THEN NULL ELSE feeds.moved_to END,
                url = excluded.url
            """
        )
        self.con.unregister("cfg_feeds")

    def enable_feed(self, name: str) -> bool:
        n = self.con.execute(
            # a fresh start: alerted_streak too, or the feed's next failing streak would raise no alert
            "UPDATE feeds SET enabled = TRUE, disabled_reason = NULL, error_streak = 0, alerted_streak = 0, "
            "next_poll_at = NULL WHERE name = ? RETURNING name",
            [name],
        ).fetchall()
        return bool(n)

    def feed_states(self) -> dict[str, FeedState]:
        rows = self.con.execute(
            "SELECT name, url, enabled, etag, last_modified, error_streak, next_poll_at, alerted_streak, "
            "last_error, moved_to FROM feeds"
        ).fetchall()
        return {r[0]: FeedState(*r) for r in rows}

    def record_polls(self, rows: Sequence[dict]) -> None:
        """Write the outcome of one run's polls (set-based)."""
        if not rows:
            return
        self._register("polls", _arrow(rows, FEED_POLL_SCHEMA))
        self.con.execute(
            """
            UPDATE feeds SET
                last_outcome = p.outcome,
                last_status = p.status,
                last_polled_at = p.polled_at,
                etag = CASE WHEN p.outcome = 'ok' THEN p.etag ELSE feeds.etag END,
                last_modified = CASE WHEN p.outcome = 'ok' THEN p.last_modified ELSE feeds.last_modified END,
                last_success_at = CASE WHEN p.outcome IN ('ok', 'not_modified') THEN p.polled_at ELSE feeds.last_success_at END,
                -- an outage (every feed failing without an answer) is not the feeds' fault
                error_streak = CASE WHEN p.outcome = 'failed' THEN feeds.error_streak + 1
                                    WHEN p.outcome = 'outage' THEN feeds.error_streak ELSE 0 END,
                alerted_streak = CASE WHEN p.outcome IN ('failed', 'outage') THEN feeds.alerted_streak ELSE 0 END,
                last_error = CASE WHEN p.outcome IN ('failed', 'outage') THEN p.error ELSE NULL END,
                items_seen = feeds.items_seen + p.items,
                next_poll_at = p.next_poll_at,
                enabled = CASE WHEN p.disable THEN FALSE ELSE feeds.enabled END,
                disabled_reason = CASE WHEN p.disable THEN p.error ELSE feeds.disabled_reason END,
                -- kept until an answer without a permanent redirect (no answer tells nothing)
                moved_to = CASE WHEN p.moved_to IS NOT NULL THEN p.moved_to
                                WHEN p.status IS NULL THEN feeds.moved_to END
            FROM polls p WHERE feeds.name = p.name
            """
        )
        self.con.unregister("polls")

    def mark_feeds_alerted(self, names: Sequence[str]) -> None:
        if names:
            self.con.execute(
                "UPDATE feeds SET alerted_streak = error_streak WHERE list_contains(?, name)", [list(names)]
            )

    # ---- the ledger -----------------------------------------------------------------------------

    def ledger_lookup(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, bool, int]]:
        """(feed, entry_key) -> (outcome, retry, attempts) for the keys already in the ledger."""
        return self._ledger_columns(keys, "e.outcome, e.retry, e.attempts")

    def ledger_fates(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, str, int | None]]:
        """(feed, entry_key) -> (outcome, reason, article_id) for the keys in the ledger."""
        return self._ledger_columns(keys, "e.outcome, e.reason, e.article_id")

    def _ledger_columns(self, keys: Sequence[tuple[str, str]], columns: str) -> dict[tuple[str, str], tuple]:
        if not keys:
            return {}
        t = pa.table({"feed": [k[0] for k in keys], "entry_key": [k[1] for k in keys]})
        self._register("ledger_keys", t)
        rows = self.con.execute(
            f"SELECT e.feed, e.entry_key, {columns} FROM entries e JOIN ledger_keys k USING (feed, entry_key)"
        ).fetchall()
        self.con.unregister("ledger_keys")
        return {(r[0], r[1]): tuple(r[2:]) for r in rows}

    def write_ledger(self, rows: Sequence[LedgerRow], run_id: int, seen_at: datetime) -> None:
        # De-duplicate inside the batch: DuckDB silently drops later duplicates of one INSERT.
        unique: dict[tuple[str, str], LedgerRow] = {}
        for r in rows:
            unique[(r.feed, r.entry_key)] = r
        if not unique:
            return
        data = [
            {
                "feed": r.feed,
                "entry_key": r.entry_key,
                "url": r.url,
                "guid": r.guid,
                "title": r.title,
                "outcome": r.outcome,
                "reason": r.reason,
                "article_id": r.article_id,
                "retry": r.retry,
                "seen_at": seen_at,
                "run_id": run_id,
            }
            for r in unique.values()
        ]
        self._register("ledger_rows", _arrow(data, ENTRY_SCHEMA))
        self.con.execute(
            """
            INSERT INTO entries (feed, entry_key, url, guid, title, outcome, reason, article_id,
                                 attempts, retry, first_seen, last_seen, run_id)
            SELECT feed, entry_key, url, guid, title, outcome, reason, article_id, 1, retry,
                   seen_at, seen_at, run_id FROM ledger_rows
            ON CONFLICT (feed, entry_key) DO UPDATE SET
                outcome = excluded.outcome, reason = excluded.reason, article_id = excluded.article_id,
                retry = excluded.retry, attempts = entries.attempts + 1, last_seen = excluded.last_seen,
                run_id = excluded.run_id
            """
        )
        self.con.unregister("ledger_rows")

    # ---- copy detection lookups (set-based, for a whole batch) --------------------------------

    def articles_by_url(self, urls: Sequence[str]) -> dict[str, int]:
        if not urls:
            return {}
        self._register("q_urls", pa.table({"url": list(set(urls))}))
        rows = self.con.execute(
            "SELECT a.url, a.article_id FROM articles a JOIN q_urls USING (url)"
        ).fetchall()
        self.con.unregister("q_urls")
        return dict(rows)

    def articles_by_text_hash(self, hashes: Sequence[str]) -> dict[str, int]:
        if not hashes:
            return {}
        self._register("q_hashes", pa.table({"text_hash": list(set(hashes))}))
        rows = self.con.execute(
            "SELECT a.text_hash, min(a.article_id) FROM articles a JOIN q_hashes USING (text_hash) GROUP BY 1"
        ).fetchall()
        self.con.unregister("q_hashes")
        return dict(rows)

    def band_candidates(
        self, batch: Sequence[tuple[int, Sequence[int]]], limit: int = 20
    ) -> dict[int, list[int]]:
        """item -> stored article_ids sharing at least one band key, most shared keys first."""
        items, keys = [], []
        for item, bands in batch:
            items.extend([item] * len(bands))
            keys.extend(bands)
        if not keys:
            return {}
        self._register(
            "q_bands", pa.table({"item": pa.array(items, pa.int64()), "band_key": pa.array(keys, pa.int64())})
        )
        rows = self.con.execute(
            """
            SELECT item, article_id FROM (
                SELECT q.item, b.article_id, count(*) AS shared,
                       row_number() OVER (PARTITION BY q.item ORDER BY count(*) DESC, b.article_id) AS rank
                FROM q_bands q JOIN article_bands b USING (band_key)
                GROUP BY q.item, b.article_id
            ) WHERE rank <= ? ORDER BY item, rank
            """,
            [limit],
        ).fetchall()
        self.con.unregister("q_bands")
        out: dict[int, list[int]] = {}
        for item, aid in rows:
            out.setdefault(item, []).append(aid)
        return out

    def article_texts(self, ids: Iterable[int]) -> dict[int, str]:
        ids = list(set(ids))
        if not ids:
            return {}
        self._register("q_ids", pa.table({"article_id": pa.array(ids, pa.int64())}))
        rows = self.con.execute(
            "SELECT a.article_id, a.text FROM articles a JOIN q_ids USING (article_id)"
        ).fetchall()
        self.con.unregister("q_ids")
        return dict(rows)

    def run_articles(self, run_id: int, limit: int | None = None) -> tuple[list[dict], int]:
        """The first `limit` articles a run stored (all: None) and how many it stored, seeds excepted."""
        return run_articles(self.con, run_id, limit)

    def seed_count(self) -> int:
        return self.con.execute("SELECT count(*) FROM articles WHERE feed = 'seed'").fetchall()[0][0]

    # ---- writing a judged batch -----------------------------------------------------------------

    def reserve_article_ids(self, n: int) -> list[int]:
        if n <= 0:
            return []
        return [
            r[0] for r in self.con.execute("SELECT nextval('article_id_seq') FROM range(?)", [n]).fetchall()
        ]

    def insert_articles(self, rows: Sequence[dict], bands: Sequence[tuple[int, int]]) -> None:
        if rows:
            self._register("new_articles", _arrow(rows, ARTICLE_SCHEMA))
            self.con.execute("INSERT INTO articles SELECT * FROM new_articles")
            self.con.unregister("new_articles")
        if bands:
            t = pa.table(
                {
                    "band_key": pa.array([b[0] for b in bands], pa.int64()),
                    "article_id": pa.array([b[1] for b in bands], pa.int64()),
                }
            )
            self._register("new_bands", t)
            self.con.execute("INSERT INTO article_bands SELECT band_key, article_id FROM new_bands")
            self.con.unregister("new_bands")

    def insert_duplicates(self, rows: Sequence[dict]) -> None:
        if rows:
            self._register("new_dups", _arrow(rows, DUPLICATE_SCHEMA))
            self.con.execute(
                "INSERT INTO duplicates SELECT nextval('duplicate_id_seq'), url, feed, title, seen_at, "
                "duplicate_of, method, similarity, run_id FROM new_dups"
            )
            self.con.unregister("new_dups")

    def insert_mentions(self, rows: Sequence[dict]) -> None:
        unique = {(r["article_id"], r["kind"], r["name"]): r for r in rows}
        if unique:
            self._register("new_mentions", _arrow(list(unique.values()), MENTION_SCHEMA))
            self.con.execute(
                """
                INSERT INTO mentions (article_id, kind, name, alias, count, snippet, run_id, first_offset)
                SELECT n.article_id, n.kind, n.name, n.alias, n.count, n.snippet,
                       coalesce(n.run_id, (SELECT a.run_id FROM articles a WHERE a.article_id = n.article_id)),
                       n.first_offset
                FROM new_mentions n
                ON CONFLICT DO NOTHING
                """
            )
            self.con.unregister("new_mentions")

    def insert_alerts(self, rows: Sequence[dict]) -> int:
        """Queue alerts in the outbox; an alert already queued for (rule, story, channel) is not queued again.

        Operational alerts (no story) are told apart by their subject: two feeds failing in one run are
        two alerts. One is not queued again only while an identical one is still pending: a feed that
        fails again after it recovered is a new event, even when the subject reads the same.
        """
        unique = {
            (r["rule"], r["article_id"], r["channel"], r["subject"] if r["article_id"] is None else None): r
            for r in rows
        }
        if not unique:
            return 0
        self._register("new_alerts", _arrow(list(unique.values()), ALERT_SCHEMA))
        n = self.con.execute(
            """
            INSERT INTO alerts (alert_id, rule, article_id, channel, status, attempts, created_at, subject,
                                kind, run_id, matched)
            SELECT nextval('alert_id_seq'), n.rule, n.article_id, n.channel, 'pending', 0, n.created_at, n.subject,
                   coalesce(n.kind, CASE WHEN n.article_id IS NULL THEN 'operational' ELSE 'story' END),
                   n.run_id, n.matched
            FROM new_alerts n
            WHERE NOT EXISTS (SELECT 1 FROM alerts a WHERE a.rule = n.rule AND a.channel = n.channel
                              AND a.article_id IS NOT DISTINCT FROM n.article_id
                              AND (n.article_id IS NOT NULL
                                   OR (a.subject = n.subject AND a.status = 'pending')))
            RETURNING alert_id
            """
        ).fetchall()
        self.con.unregister("new_alerts")
        return len(n)

    # ---- the outbox -----------------------------------------------------------------------------

    def pending_alerts(self, max_attempts: int = MAX_DELIVERY_ATTEMPTS, archive_shown: int = 5) -> list[dict]:
        """Pending alerts with what their message needs: the story, its mentions (in the order they
        appear in it), its copies, what the rule matched; for an archive alert, how many old stories
        the rule matches and the newest `archive_shown` of them."""
        cur = self.con.execute(
            """
            SELECT al.alert_id, al.rule, al.channel, al.attempts, al.article_id, al.subject,
                   al.created_at, al.run_id, al.matched,
                   coalesce(al.kind, CASE WHEN al.article_id IS NULL THEN 'operational' ELSE 'story' END)
                       AS kind,
                   a.title, a.url, a.feed, a.published_at,
                   (SELECT count(*) FROM duplicates d WHERE d.duplicate_of = a.article_id) AS copies,
                   (SELECT list(DISTINCT d.feed ORDER BY d.feed) FROM duplicates d
                     WHERE d.duplicate_of = a.article_id) AS copy_feeds,
                   (SELECT list({'kind': m.kind, 'name': m.name, 'alias': m.alias, 'count': m.count,
                                 'snippet': m.snippet, 'offset': m.first_offset}
                                ORDER BY m.first_offset NULLS LAST, m.kind, m.name)
                      FROM mentions m WHERE m.article_id = a.article_id) AS mentions,
                   CASE WHEN al.kind = 'archive' THEN
                       (SELECT count(*) FROM archive_matches x WHERE x.run_id = al.run_id AND x.rule = al.rule)
                   END AS archive_count,
                   CASE WHEN al.kind = 'archive' THEN
                       (SELECT list({'article_id': s.article_id, 'title': s.title, 'url': s.url, 'feed': s.feed,
                                     'published_at': s.published_at}
                                    ORDER BY coalesce(s.published_at, s.first_seen) DESC, s.article_id DESC)[1:?]
                          FROM archive_matches x JOIN articles s USING (article_id)
                         WHERE x.run_id = al.run_id AND x.rule = al.rule)
                   END AS archive_stories
            FROM alerts al LEFT JOIN articles a ON a.article_id = al.article_id
            WHERE al.status = 'pending' AND al.attempts < ?
            ORDER BY al.channel, al.alert_id
            """,
            [archive_shown, max_attempts],
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def mark_alerts(self, results: Sequence[tuple[int, bool, str | None]]) -> None:
        """(alert_id, delivered, error): delivered rows become sent; others stay pending with the error."""
        if not results:
            return
        t = pa.table(
            {
                "alert_id": pa.array([r[0] for r in results], pa.int64()),
                "ok": pa.array([r[1] for r in results], pa.bool_()),
                "error": pa.array([r[2] for r in results], pa.string()),
            }
        )
        self._register("delivery", t)
        self.con.execute(
            """
            UPDATE alerts SET attempts = alerts.attempts + 1,
                status = CASE WHEN d.ok THEN 'sent'
                              WHEN alerts.attempts + 1 >= ? THEN 'failed' ELSE 'pending' END,
                sent_at = CASE WHEN d.ok THEN ? ELSE NULL END,
                last_error = CASE WHEN d.ok THEN NULL ELSE d.error END
            FROM delivery d WHERE alerts.alert_id = d.alert_id AND alerts.status = 'pending'
            """,
            [MAX_DELIVERY_ATTEMPTS, now_utc()],
        )
        self.con.unregister("delivery")

    def alert_counts(self) -> dict[str, int]:
        return dict(self.con.execute("SELECT status, count(*) FROM alerts GROUP BY status").fetchall())
