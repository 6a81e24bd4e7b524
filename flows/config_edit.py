"""Edit the config file's feeds in place: its comments, blank lines and order are kept (tomlkit
round-trips the file), and the result is validated as a whole before it replaces the file.

A TOML comment belongs to no key: tomlkit keeps the comments and blank lines that follow a table's
last key inside that table, although they usually introduce what comes next (the next feed, or the
next section). So a feed added after the last one takes that tail with it (the comment keeps
introducing the section after it), and a removed feed hands its tail to the table before it: no
comment is ever lost.

Writing: the new text goes to a temporary file beside the config, then replaces it (readers see the
old file or the new one, never half of one); edits are serialised by a lock on the directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Comment, InlineTable, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

from flows.settings import ConfigError, FeedConfig, Settings, validate_toml


class EditRefused(Exception):
    """The edit cannot be made (unknown feed, name taken, invalid result); the file is unchanged."""


@dataclass(frozen=True)
class FeedLine:
    name: str
    url: str
    enabled: bool = True


# ---- reading and writing ------------------------------------------------------------------------


def _target(path: Path) -> Path:
    """The file to replace: a symlinked config is edited where it lives, the link is kept."""
    return Path(os.path.realpath(path))


@contextlib.contextmanager
def editing(path: Path) -> Iterator[TOMLDocument]:
    """The config as a tomlkit document; on a clean exit the edited document is validated and
    written back atomically. Concurrent edits wait for each other (a lock on the directory, which
    outlives the file being replaced)."""
    target = _target(path)
    if not target.is_file():
        raise EditRefused(f"{path}: config file not found")
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)
        try:
            text = target.read_text(encoding="utf-8")
            doc = tomlkit.parse(text)
        except (OSError, UnicodeDecodeError) as e:
            raise EditRefused(f"{path}: cannot read config: {e}") from None
        except TOMLKitError as e:
            raise EditRefused(f"{path}: not valid TOML: {e}") from None
        yield doc
        new_text = tomlkit.dumps(doc)
        check(new_text, path)
        if new_text != text:
            write_atomically(target, new_text)
    finally:
        os.close(dir_fd)  # releases the lock


def check(text: str, path: Path) -> Settings:
    """The settings the text would load as; EditRefused with the first problem on one line."""
    try:
        return validate_toml(text, path)
    except ConfigError as e:
        lines = [line.strip() for line in str(e).splitlines()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        if len(lines) > 1:
            detail = f"{path}: {detail}"
        raise EditRefused(f"{detail} (the file is unchanged)") from None


def write_atomically(target: Path, text: str) -> None:
    """Replace `target` by `text` in one step, keeping its permissions."""
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---- the feeds ----------------------------------------------------------------------------------


def configured_feeds(doc: TOMLDocument) -> list[FeedLine]:
    out = []
    for t in doc.get("feeds", []):
        out.append(FeedLine(str(t.get("name", "")), str(t.get("url", "")), bool(t.get("enabled", True))))
    return out


def add_feed(doc: TOMLDocument, name: str, url: str) -> None:
    """Append a feed after the last one (config order decides which copy of a story is the original)."""
    _check_new(doc, name, url)
    feeds = doc.get("feeds")
    if feeds is None:
        aot = tomlkit.aot()
        aot.append(_feed_table(name, url))
        doc.append("feeds", aot)
        return
    if isinstance(feeds, Array):  # feeds = [{name = ..., url = ...}]
        entry = tomlkit.inline_table()
        entry.update({"name": name, "url": url})
        feeds.append(entry)
        return
    if not isinstance(feeds, AoT):
        raise EditRefused("feeds: expected [[feeds]] tables in the config")
    table = _feed_table(name, url)
    if len(feeds):
        blank, comments = _split_at_first_comment(_take_tail(feeds[-1]))
        _put_tail(feeds[-1], blank or [Whitespace("\n")])  # a blank line between the two feeds
        for item in comments:
            table.value.body.append((None, item))
    feeds.append(table)


def remove_feed(doc: TOMLDocument, name: str) -> str:
    """Remove the feed named `name`; returns its URL. The comments after it move to what precedes it."""
    feeds = doc.get("feeds")
    index = next((i for i, f in enumerate(feeds or []) if f.get("name") == name), None)
    if index is None:
        known = ", ".join(f.name for f in configured_feeds(doc)) or "none"
        raise EditRefused(f"no feed named {name!r} in the config (feeds: {known})")
    url = str(feeds[index].get("url", ""))
    if isinstance(feeds, Array):
        del feeds[index]
        return url
    tail = _take_tail(feeds[index])
    del feeds[index]
    if index > 0:
        _put_tail(feeds[index - 1], tail)
    elif len(feeds):  # the first feed: what came after it now introduces the new first feed
        _put_tail(_table_before(doc, "feeds") or feeds[0], tail)
    else:
        holder = _table_before(doc, "feeds")
        del doc["feeds"]  # an empty array of tables would be written as `feeds = []` at the top
        if holder is not None:
            _put_tail(holder, tail)
        else:
            for item in tail:
                doc.add(item)
    return url


def _check_new(doc: TOMLDocument, name: str, url: str) -> None:
    try:
        FeedConfig(name=name, url=url)
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        first = e.errors()[0] if hasattr(e, "errors") else {"loc": ("",), "msg": str(e)}
        field = first["loc"][0]
        value = name if field == "name" else url
        raise EditRefused(f"feed {field} {value!r}: {first['msg'].removeprefix('Value error, ')}") from None
    for f in configured_feeds(doc):
        if f.name == name:
            raise EditRefused(f"a feed named {name!r} is already configured ({f.url})")
        if f.url == url.strip():
            raise EditRefused(f"{url} is already configured as feed {f.name!r}")


def _feed_table(name: str, url: str) -> Table:
    table = tomlkit.table()
    table.add("name", name)
    table.add("url", url.strip())
    return table


# ---- comments and blank lines around tables -------------------------------------------------------


def _innermost(table: Table | InlineTable) -> Table:
    """The table whose body ends the text of `table` ([[feeds]] followed by [feeds.headers], say)."""
    while True:
        keyed = [item for key, item in table.value.body if key is not None]
        if keyed and isinstance(keyed[-1], Table) and not isinstance(keyed[-1], InlineTable):
            table = keyed[-1]
        else:
            return table


def _take_tail(table: Table) -> list:
    """Remove and return the comments and blank lines after the table's last key."""
    body = _innermost(table).value.body
    i = len(body)
    while i and body[i - 1][0] is None and isinstance(body[i - 1][1], Whitespace | Comment):
        i -= 1
    tail = [item for _, item in body[i:]]
    del body[i:]  # trivia after the last key: no key index refers to these positions
    return tail


def _put_tail(table: Table, items: list) -> None:
    """Append comments and blank lines after the table's last key, without doubling blank lines."""
    body = _innermost(table).value.body
    if not any(isinstance(item, Comment) for item in items):  # blank lines only: keep one, if none
        items = [] if body and body[-1][0] is None else [Whitespace("\n")]
    for item in items:
        if isinstance(item, Whitespace) and body and isinstance(body[-1][1], Whitespace):
            continue
        body.append((None, item))


def _split_at_first_comment(tail: list) -> tuple[list, list]:
    for i, item in enumerate(tail):
        if isinstance(item, Comment):
            return tail[:i], [Whitespace("\n"), *tail[i:]]
    return tail, []


def _table_before(doc: TOMLDocument, key: str) -> Table | None:
    """The top-level table written just before `key`, when there is one (its tail precedes `key`)."""
    previous = None
    for k, item in doc.body:
        if k is not None and k.key == key:
            break
        if k is not None:
            previous = item
        elif isinstance(item, Comment):
            previous = None  # a top-level comment sits between them
    return previous if isinstance(previous, Table) else None
