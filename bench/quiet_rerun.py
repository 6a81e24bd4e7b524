"""Quiet re-run: `newswatch run` over 1,000 feeds with nothing new (every feed answers 304).

The throughput bench with its feeds set to `--feeds` (two pages each): its full runs set the stores
up, its quiet re-runs are the figures here, beside Prefect's fixed cost (a trivial flow run the same
way) and the obvious script's re-run (which skips the URLs it stored, but fetches every feed again).

    python -m bench.quiet_rerun [--quick] [--feeds 1000] [--rounds N] [--contenders ...] [--base DIR]

`newswatch-warm` among the contenders runs newswatch against a Prefect server already running (as
beside `newswatch serve` or `prefect server start`): what a one-shot run costs without starting one.
"""

from __future__ import annotations

import argparse

from bench import throughput


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quiet_rerun", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 feeds")
    parser.add_argument("--feeds", type=int, help="feeds (default 1000), two pages each")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--contenders", default="newswatch,prefect,script")
    parser.add_argument("--base", help="another checkout of newswatch, run as newswatch-base")
    args = parser.parse_args(argv)
    feeds = args.feeds or (100 if args.quick else 1000)
    return throughput.main(
        ["--feeds", str(feeds), "--pages", str(2 * feeds), "--rounds", str(args.rounds),
         "--contenders", args.contenders, "--new-share", "0", "--sample", "0",
         *(["--base", args.base] if args.base else [])]
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
