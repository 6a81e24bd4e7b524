"""Stages as plain functions: bytes in, records out. Imports neither Prefect nor DuckDB."""
