"""Where the demo's site and config are, and how a demo config and warehouse are prepared
(shared by `newswatch demo` and `newswatch demo --serve`)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
SITE = HERE / "site"
DEMO_CONFIG = HERE / "demo.toml"
DEFAULT_DB = Path("data/demo/newswatch.duckdb")


def render_config(base_url: str, smtp_port: int, out: Path) -> Path:
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    text = text.replace("{{BASE}}", base_url).replace("{{SMTP_PORT}}", str(smtp_port))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def reset_warehouse(db: Path) -> None:
    """The demo starts from an empty warehouse each time, so its two runs show first and repeat polls."""
    from warehouse.lock import lock_path
    from warehouse.store import writer_path

    for p in (db, writer_path(db), lock_path(db), Path(str(writer_path(db)) + ".wal")):
        p.unlink(missing_ok=True)
