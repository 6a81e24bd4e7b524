"""Prefect flows, the CLI, settings and the offline demo: the only place that knows Prefect."""
