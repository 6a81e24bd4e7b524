"""Benchmarks: they measure and print figures; they do not pass or fail. Run them all: `python -m bench`."""
