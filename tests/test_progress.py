"""Progress shows on a terminal only (logs and cron output stay quiet): one line per stage with its
rate and time left, redrawn in place by a thread even while nothing moves, and the counts the
fetch and poll tasks report as they go."""

from __future__ import annotations

import io
import threading
import time

import pytest

from flows.ingest import progress as progress_module
from flows.ingest.progress import Progress, close_all, page_fetched


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_each_stage_has_a_line_with_rate_and_time_left():
    out = Tty()
    p = Progress(out, refresh_s=0.05)
    p.update("feeds polled", 0, 10)
    time.sleep(0.2)
    p.update("feeds polled", 4, 10, force=True)
    p.update("pages extracted", 5, 20, force=True)
    p.close()
    text = out.getvalue()
    assert "feeds polled" in text and "4/10" in text and "/s" in text and "left" in text
    assert "pages extracted" in text and "5/20" in text
    assert "pages fetched" in text  # the extracted pages are fetched first: it has their total
    assert text.endswith("\n")


def test_a_stalled_stage_is_still_redrawn():
    out = Tty()
    p = Progress(out, refresh_s=0.05)
    p.update("pages extracted", 1, 100, force=True)
    draws = out.getvalue().count("pages extracted")
    time.sleep(0.6)  # nothing reported: the refresher keeps drawing (the rate falls, time goes by)
    assert out.getvalue().count("pages extracted") >= draws + 5
    p.close()
    settled = out.getvalue()
    time.sleep(0.2)
    assert out.getvalue() == settled  # closed: no more drawing


def test_redraws_in_place():
    out = Tty()
    p = Progress(out, refresh_s=10)
    p.update("feeds polled", 1, 2, force=True)
    p.update("pages extracted", 1, 5, force=True)
    p.update("pages extracted", 2, 5, force=True)
    p.close()
    text = out.getvalue()
    # three stages on screen: each redraw moves the cursor up to the first of them and clears lines
    assert "\x1b[2F" in text and "\x1b[K" in text
    assert text.count("\n") == text.count("\x1b[2F") * 2 + 2 + 1  # no line is added by a redraw


def test_pages_fetched_counts_what_the_fetch_tasks_report():
    out = Tty()
    p = Progress(out, refresh_s=0.05)
    p.update("pages extracted", 0, 40, force=True)
    threads = [threading.Thread(target=lambda: [page_fetched() for _ in range(10)]) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: "30/40" in out.getvalue())
    p.close()
    assert "pages fetched" in out.getvalue()


def test_counts_of_an_earlier_run_in_the_process_are_not_shown():
    for _ in range(7):
        page_fetched()
    out = Tty()
    p = Progress(out, refresh_s=10)
    page_fetched()
    p.update("pages extracted", 0, 5, force=True)
    p.close()
    assert "1/5" in out.getvalue() and "8/5" not in out.getvalue()


def test_time_left_is_shown_in_minutes_and_hours():
    assert progress_module._duration(75) == "1m15s"
    assert progress_module._duration(3 * 3600 + 120) == "3h02m"
    assert progress_module._duration(9) == "9s"


def test_silent_when_not_a_terminal_or_turned_off(monkeypatch):
    out = io.StringIO()
    Progress(out).update("feeds polled", 5, 5, force=True)
    assert out.getvalue() == ""
    monkeypatch.setenv("NEWSWATCH_NO_PROGRESS", "1")
    tty = Tty()
    p = Progress(tty)
    p.update("feeds polled", 5, 5, force=True)
    p.close()
    assert tty.getvalue() == ""


def test_close_all_ends_every_display_and_a_dead_owner_ends_its_refresher():
    out = Tty()
    p = Progress(out, refresh_s=0.05)
    p.update("feeds polled", 1, 3, force=True)
    close_all()
    assert out.getvalue().endswith("\n") and p._thread is not None and not p._thread.is_alive()

    holder: list[Progress] = []

    def owner() -> None:  # a run's thread that ends without closing its display
        q = Progress(Tty(), refresh_s=0.05)
        q.update("feeds polled", 1, 3)
        holder.append(q)

    t = threading.Thread(target=owner)
    t.start()
    t.join()
    wait_for(lambda: not holder[0]._thread.is_alive())


@pytest.mark.parametrize("stream_error", [OSError, ValueError])
def test_a_terminal_that_goes_away_stops_the_display(stream_error):
    class Gone(Tty):
        def write(self, text):
            raise stream_error("gone")

    p = Progress(Gone(), refresh_s=0.05)
    p.update("feeds polled", 1, 3, force=True)  # no exception reaches the run
    wait_for(lambda: not p._thread.is_alive())
