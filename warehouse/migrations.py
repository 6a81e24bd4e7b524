"""Ordered schema migrations. Each runs once, in order, and is recorded in `schema_migrations`.

Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_core_tables",
        """
        CREATE SEQUENCE IF NOT EXISTS article_id_seq START 1;
        CREATE SEQUENCE IF NOT EXISTS duplicate_id_seq START 1;
        CREATE SEQUENCE IF NOT EXISTS run_id_seq START 1;
        CREATE SEQUENCE IF NOT EXISTS alert_id_seq START 1;

        -- One row per stored story (seed documents included, feed = 'seed').
        CREATE TABLE articles (
            article_id   BIGINT PRIMARY KEY,
            url          VARCHAR NOT NULL UNIQUE,   -- canonical URL (seed:// for the seed corpus)
            title        VARCHAR,
            published_at TIMESTAMPTZ,
            feed         VARCHAR NOT NULL,          -- the feed's configured name
            lang         VARCHAR,
            author       VARCHAR,
            text         VARCHAR NOT NULL,
            text_source  VARCHAR NOT NULL,          -- page | feed | seed
            text_hash    VARCHAR NOT NULL,          -- hash of the normalised text (exact copies)
            word_count   INTEGER NOT NULL,
            guid         VARCHAR,
            first_seen   TIMESTAMPTZ NOT NULL,
            run_id       BIGINT
        );
        CREATE INDEX articles_text_hash ON articles (text_hash);

        -- LSH band keys of every stored article. Deliberately no index: a hash join of a batch's
        -- keys is as fast and an ART index made the file 5x larger (measured).
        CREATE TABLE article_bands (
            band_key   BIGINT NOT NULL,
            article_id BIGINT NOT NULL
        );

        -- Every copy seen: never stored again as an article, never silently dropped.
        CREATE TABLE duplicates (
            duplicate_id BIGINT PRIMARY KEY,
            url          VARCHAR NOT NULL,
            feed         VARCHAR NOT NULL,
            title        VARCHAR,
            seen_at      TIMESTAMPTZ NOT NULL,
            duplicate_of BIGINT NOT NULL,           -- article_id of the original
            method       VARCHAR NOT NULL,          -- url | exact | near
            similarity   DOUBLE,
            run_id       BIGINT
        );

        -- The ledger: every feed entry ever seen, per feed, with its outcome and reason.
        CREATE TABLE entries (
            feed        VARCHAR NOT NULL,
            entry_key   VARCHAR NOT NULL,           -- canonical URL, or guid:/title: when no link
            url         VARCHAR,
            guid        VARCHAR,
            title       VARCHAR,
            outcome     VARCHAR NOT NULL,           -- stored | copy | off_topic | no_link | fetch_failed | extract_empty
            reason      VARCHAR,
            article_id  BIGINT,                     -- the stored article, or the original of a copy
            attempts    INTEGER NOT NULL DEFAULT 1,
            retry       BOOLEAN NOT NULL DEFAULT FALSE,  -- a transient failure: try again next run
            first_seen  TIMESTAMPTZ NOT NULL,
            last_seen   TIMESTAMPTZ NOT NULL,
            run_id      BIGINT,
            PRIMARY KEY (feed, entry_key)
        );

        -- Feed state and health, one row per configured feed.
        CREATE TABLE feeds (
            name            VARCHAR PRIMARY KEY,
            url             VARCHAR NOT NULL,
            enabled         BOOLEAN NOT NULL DEFAULT TRUE,
            disabled_reason VARCHAR,
            etag            VARCHAR,
            last_modified   VARCHAR,
            last_status     INTEGER,
            last_outcome    VARCHAR,                -- ok | not_modified | failed
            last_polled_at  TIMESTAMPTZ,
            last_success_at TIMESTAMPTZ,
            error_streak    INTEGER NOT NULL DEFAULT 0,
            last_error      VARCHAR,
            next_poll_at    TIMESTAMPTZ,
            items_seen      BIGINT NOT NULL DEFAULT 0,
            alerted_streak  INTEGER NOT NULL DEFAULT 0  -- streak length that already raised an alert
        );

        CREATE TABLE runs (
            run_id          BIGINT PRIMARY KEY,
            started_at      TIMESTAMPTZ NOT NULL,
            finished_at     TIMESTAMPTZ,
            status          VARCHAR NOT NULL,       -- running | completed | no_feed_polled | failed
            feeds_due       INTEGER DEFAULT 0,
            feeds_polled    INTEGER DEFAULT 0,
            feeds_unchanged INTEGER DEFAULT 0,
            feeds_failed    INTEGER DEFAULT 0,
            entries_new     INTEGER DEFAULT 0,
            pages_fetched   INTEGER DEFAULT 0,
            articles_stored INTEGER DEFAULT 0,
            copies          INTEGER DEFAULT 0,
            off_topic       INTEGER DEFAULT 0,
            no_link         INTEGER DEFAULT 0,
            fetch_failed    INTEGER DEFAULT 0,
            extract_empty   INTEGER DEFAULT 0,
            mentions        INTEGER DEFAULT 0,
            alerts_created  INTEGER DEFAULT 0,
            alerts_sent     INTEGER DEFAULT 0,
            alerts_pending  INTEGER DEFAULT 0,
            outage          BOOLEAN DEFAULT FALSE,
            note            VARCHAR
        );

        -- Watchlist hits: one row per article and actor/keyword.
        CREATE TABLE mentions (
            article_id BIGINT NOT NULL,
            kind       VARCHAR NOT NULL,            -- actor | keyword
            name       VARCHAR NOT NULL,
            alias      VARCHAR NOT NULL,            -- the text form that matched first
            count      INTEGER NOT NULL,
            snippet    VARCHAR,
            PRIMARY KEY (article_id, kind, name)
        );

        -- The outbox: written with its article, delivered after; one row per rule, story and channel.
        CREATE TABLE alerts (
            alert_id   BIGINT PRIMARY KEY,
            rule       VARCHAR NOT NULL,
            article_id BIGINT,                      -- NULL for operational alerts
            channel    VARCHAR NOT NULL,
            status     VARCHAR NOT NULL,            -- pending | sent | failed
            attempts   INTEGER NOT NULL DEFAULT 0,
            last_error VARCHAR,
            created_at TIMESTAMPTZ NOT NULL,
            sent_at    TIMESTAMPTZ,
            subject    VARCHAR,                     -- for operational alerts: what happened
            UNIQUE (rule, article_id, channel)
        );
        """,
    ),
    (
        "002_analyst_views",
        """
        -- Stories with the outlets that republished them.
        CREATE OR REPLACE VIEW stories AS
        SELECT a.article_id, a.title, a.feed, a.url, a.published_at, a.first_seen,
               count(d.duplicate_id) AS copies,
               list(DISTINCT d.feed ORDER BY d.feed) FILTER (WHERE d.feed IS NOT NULL) AS republished_by
        FROM articles a LEFT JOIN duplicates d ON d.duplicate_of = a.article_id
        GROUP BY ALL;

        -- Mentions of each actor (and keyword) per day, by publication date (else first seen).
        CREATE OR REPLACE VIEW mentions_daily AS
        SELECT CAST(coalesce(a.published_at, a.first_seen) AS DATE) AS day, m.kind, m.name,
               count(*) AS articles, sum(m.count) AS mentions
        FROM mentions m JOIN articles a USING (article_id)
        GROUP BY ALL;

        -- Feed health with volume over the last 7 days.
        CREATE OR REPLACE VIEW feed_health AS
        SELECT f.name, f.url, f.enabled, f.disabled_reason, f.last_status, f.last_outcome,
               f.last_polled_at, f.last_success_at, f.error_streak, f.last_error, f.next_poll_at,
               coalesce(e.items_7d, 0) / 7.0 AS items_per_day
        FROM feeds f LEFT JOIN (
            SELECT feed, count(*) AS items_7d FROM entries
            WHERE first_seen >= now() - INTERVAL 7 DAY GROUP BY feed
        ) e ON e.feed = f.name;

        CREATE OR REPLACE VIEW alerts_by_status AS
        SELECT rule, channel, status, count(*) AS alerts, max(created_at) AS latest
        FROM alerts GROUP BY ALL;
        """,
    ),
    (
        "003_article_text_zstd",
        """
        -- Article text compressed with zstd instead of DuckDB's per-segment choice (FSST,
        -- dictionary, ...). Measured on 1,786 benchmark articles: the CHECKPOINT that ends every run
        -- took 0.035 s for the text column instead of 0.13 s, and the column was 3x smaller; a
        -- scan with ILIKE took the same time; fetching 20 texts by id 6 ms instead of 1 ms.
        -- DuckDB cannot change a column's compression in place: the table is rebuilt (the views
        -- name it and are bound when queried, so they follow).
        CREATE TABLE articles_zstd (
            article_id   BIGINT PRIMARY KEY,
            url          VARCHAR NOT NULL UNIQUE,
            title        VARCHAR,
            published_at TIMESTAMPTZ,
            feed         VARCHAR NOT NULL,
            lang         VARCHAR,
            author       VARCHAR,
            text         VARCHAR NOT NULL USING COMPRESSION zstd,
            text_source  VARCHAR NOT NULL,
            text_hash    VARCHAR NOT NULL,
            word_count   INTEGER NOT NULL,
            guid         VARCHAR,
            first_seen   TIMESTAMPTZ NOT NULL,
            run_id       BIGINT
        );
        INSERT INTO articles_zstd SELECT * FROM articles;
        DROP TABLE articles;
        ALTER TABLE articles_zstd RENAME TO articles;
        CREATE INDEX articles_text_hash ON articles (text_hash);
        """,
    ),
    (
        "004_rules_state_mutes_archive",
        """
        -- Which run found each mention: retro-matching (the watchlist or a rule changed) records
        -- old stories' new mentions in a later run than the one that stored them. And where the
        -- first match is in the story (title, blank line, text), so alerts quote in document order.
        ALTER TABLE mentions ADD COLUMN run_id BIGINT;
        ALTER TABLE mentions ADD COLUMN first_offset INTEGER;
        UPDATE mentions SET run_id = a.run_id FROM articles a WHERE a.article_id = mentions.article_id;

        -- The outbox: what kind of message (story | operational | archive), the run that queued it,
        -- and what the rule matched in the story (the snippets the message quotes).
        ALTER TABLE alerts ADD COLUMN kind VARCHAR;
        ALTER TABLE alerts ADD COLUMN run_id BIGINT;
        ALTER TABLE alerts ADD COLUMN matched
            STRUCT(term VARCHAR, snippet VARCHAR, "start" INTEGER, "end" INTEGER, "offset" INTEGER)[];
        UPDATE alerts SET kind = CASE WHEN article_id IS NULL THEN 'operational' ELSE 'story' END;

        -- A muted rule's alerts wait in the outbox until `until`; they are not lost.
        CREATE TABLE rule_mutes (
            rule     VARCHAR PRIMARY KEY,
            until    TIMESTAMPTZ NOT NULL,
            muted_at TIMESTAMPTZ NOT NULL
        );

        -- What the archive was last matched with: 'watchlist' and 'rule:NAME' -> a hash of their
        -- definition. A run that finds another hash matches the whole archive again.
        CREATE TABLE matcher_state (
            name       VARCHAR PRIMARY KEY,
            hash       VARCHAR NOT NULL,
            run_id     BIGINT,
            updated_at TIMESTAMPTZ NOT NULL
        );

        -- Stories stored before a rule was added or changed that it matches, found by that run's
        -- retro-matching: listed in one "archive matches" message, never alerted one by one.
        CREATE TABLE archive_matches (
            run_id     BIGINT NOT NULL,
            rule       VARCHAR NOT NULL,
            article_id BIGINT NOT NULL,
            PRIMARY KEY (run_id, rule, article_id)
        );
        """,
    ),
    (
        "005_feed_moved_to",
        """
        -- Where a feed's URL now permanently redirects (301/308): the operator updates the config.
        ALTER TABLE feeds ADD COLUMN moved_to VARCHAR;

        CREATE OR REPLACE VIEW feed_health AS
        SELECT f.name, f.url, f.enabled, f.disabled_reason, f.last_status, f.last_outcome,
               f.last_polled_at, f.last_success_at, f.error_streak, f.last_error, f.next_poll_at,
               coalesce(e.items_7d, 0) / 7.0 AS items_per_day, f.moved_to
        FROM feeds f LEFT JOIN (
            SELECT feed, count(*) AS items_7d FROM entries
            WHERE first_seen >= now() - INTERVAL 7 DAY GROUP BY feed
        ) e ON e.feed = f.name;
        """,
    ),
    (
        "006_feed_coverage_gaps_pace",
        """
        -- What a feed's polls showed, for gap detection, pacing and silence.
        ALTER TABLE feeds ADD COLUMN newest_entry_at TIMESTAMPTZ;  -- newest entry date a poll showed
        ALTER TABLE feeds ADD COLUMN interval_minutes DOUBLE;      -- its own polling interval (pace)
        ALTER TABLE feeds ADD COLUMN silent_since TIMESTAMPTZ;     -- its newest entry, when a silence was alerted
        ALTER TABLE entries ADD COLUMN published_at TIMESTAMPTZ;   -- the entry's date, as the feed gave it
        ALTER TABLE runs ADD COLUMN gaps INTEGER DEFAULT 0;
        ALTER TABLE runs ADD COLUMN backfilled INTEGER DEFAULT 0;
        ALTER TABLE runs ADD COLUMN revisions INTEGER DEFAULT 0;

        -- A poll in which every entry was new and the oldest was newer than what the feed had shown
        -- before: entries between the two may never have been seen. One row per such poll.
        CREATE SEQUENCE IF NOT EXISTS gap_id_seq START 1;
        CREATE TABLE gaps (
            gap_id          BIGINT PRIMARY KEY,
            feed            VARCHAR NOT NULL,
            run_id          BIGINT,
            detected_at     TIMESTAMPTZ NOT NULL,
            window_start    TIMESTAMPTZ,   -- the newest entry seen before (else the previous successful poll)
            window_end      TIMESTAMPTZ,   -- the oldest entry of the poll that overflowed (NULL: undated)
            minutes         DOUBLE,        -- how long the window is
            entries_in_poll INTEGER NOT NULL,
            found           INTEGER NOT NULL,  -- entries of the window found by backfill
            new_entries     INTEGER NOT NULL,  -- of those, unknown to the ledger: they went through the pipeline
            sources         VARCHAR,       -- where they came from: rel=next, prev-archive, paged, sitemap
            requests        INTEGER NOT NULL,
            filled          BOOLEAN NOT NULL,  -- backfill reached entries seen before (or the window's start)
            note            VARCHAR        -- why it was not filled, or the last error
        );

        -- Each feed's polling: its interval, next poll, silence and recent gaps.
        CREATE OR REPLACE VIEW feed_schedule AS
        SELECT f.name, f.interval_minutes, f.next_poll_at, f.newest_entry_at, f.silent_since,
               coalesce(g.gaps_7d, 0) AS gaps_7d, coalesce(g.unfilled_7d, 0) AS unfilled_7d, g.last_gap_at
        FROM feeds f LEFT JOIN (
            SELECT feed, count(*) AS gaps_7d, count(*) FILTER (WHERE NOT filled) AS unfilled_7d,
                   max(detected_at) AS last_gap_at
            FROM gaps WHERE detected_at >= now() - INTERVAL 7 DAY GROUP BY feed
        ) g ON g.feed = f.name;
        """,
    ),
    (
        "007_article_revisions",
        """
        -- Each stored page's validators and last recheck (conditional GET: an unchanged page is a 304).
        CREATE TABLE article_checks (
            article_id    BIGINT PRIMARY KEY,
            etag          VARCHAR,
            last_modified VARCHAR,
            checked_at    TIMESTAMPTZ,     -- last recheck; NULL until the first
            last_status   INTEGER,         -- 200, 304, or the failed request's status
            last_error    VARCHAR
        );

        -- The text an article had before each material revision (the article holds the newest).
        CREATE SEQUENCE IF NOT EXISTS revision_id_seq START 1;
        CREATE TABLE article_revisions (
            revision_id   BIGINT PRIMARY KEY,
            article_id    BIGINT NOT NULL,
            revised_at    TIMESTAMPTZ NOT NULL,
            run_id        BIGINT,
            text          VARCHAR NOT NULL USING COMPRESSION zstd,  -- the text before this revision
            words_added   INTEGER NOT NULL,
            words_removed INTEGER NOT NULL,
            similarity    DOUBLE,          -- word 5-shingle Jaccard of the old and new text
            change        VARCHAR          -- what changed, in words
        );
        """,
    ),
]
