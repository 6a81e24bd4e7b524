"""Progress shows on a terminal only; logs and cron output stay quiet."""

import io

from flows.ingest.progress import Progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_and_ends_the_line():
    out = Tty()
    p = Progress(out)
    p.update("pages fetched", 1, 3, force=True)
    p.update("pages fetched", 3, 3)
    text = out.getvalue()
    assert "pages fetched: 1/3" in text and "pages fetched: 3/3" in text and text.endswith("\n")


def test_progress_is_silent_when_not_a_terminal():
    out = io.StringIO()
    Progress(out).update("feeds polled", 5, 5, force=True)
    assert out.getvalue() == ""
