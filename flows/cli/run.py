"""`newswatch run`: one ingest run, as cron, systemd or a person at a terminal runs it.

Everything a user can expect to happen ends in one line and an exit code of its own, never a
traceback: another run writing (75), Prefect unavailable (1), Ctrl-C (130) or SIGTERM (143) at any
moment, the time limit (1), a run that failed (1, the error; NEWSWATCH_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import os
import sys
import time

from flows.errors import EXIT_FAILED, EXIT_OK, EXIT_SIGINT, EXIT_SKIPPED


def _say(line: str) -> None:
    print(f"newswatch run: {line}", file=sys.stderr, flush=True)


def cmd_run(args) -> int:
    from flows.cli.commands import _settings
    from flows.runtime.stop import STOP, on_signals
    from flows.settings import resolve_db_path

    settings = _settings(args, check_secrets=True)
    db = resolve_db_path(settings, args.db)
    STOP.reset()
    with on_signals(say=_say):
        return _run(args, settings, db)


def _run(args, settings, db) -> int:
    from flows.runtime.stop import STOP

    if sys.stderr.isatty():  # at once, before Prefect is up (that takes seconds)
        _say(f"{args.config} -> {db}: starting ...")

    from flows.ingest.oneshot import Interrupted, run_ingest
    from flows.runtime.servers import PrefectServerError
    from warehouse.errors import WarehouseBusy, WarehouseError

    started = time.monotonic()
    try:
        result = run_ingest(settings, args.config, args.db, force=args.force)
    except WarehouseBusy as e:
        _say(f"{e}; this run is skipped")
        return EXIT_SKIPPED
    except PrefectServerError as e:
        _say(str(e))
        return EXIT_FAILED
    except Interrupted as e:
        _say(f"{e} while starting; nothing was done")
        return STOP.exit_code(EXIT_SIGINT)
    except (WarehouseError, OSError) as e:
        if os.environ.get("NEWSWATCH_DEBUG"):
            raise
        _say(f"failed: {e}")
        return EXIT_FAILED
    except Exception as e:  # a bug: recorded as failed in the runs table; one line here
        if os.environ.get("NEWSWATCH_DEBUG"):
            raise
        _say(f"failed: {type(e).__name__}: {e} (NEWSWATCH_DEBUG=1 shows where)")
        return EXIT_FAILED

    from flows.ingest.summary import print_run

    print_run(result, verbose=args.verbose, duration=time.monotonic() - started)
    if result.status == "interrupted":
        _say(f"{result.note}; what was stored is published, the rest comes with the next run")
        return STOP.exit_code(EXIT_SIGINT)
    if result.status == "timed_out":
        _say(f"stopped: it {result.note}; what was stored is published, the rest comes with the next run")
        return EXIT_FAILED
    if result.status == "no_feed_polled":
        _say("no feed at all could be polled (see above)")
        return EXIT_FAILED
    return EXIT_OK
