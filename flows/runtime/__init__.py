"""What every command that runs flows needs around Prefect: its settings, the Prefect API server a run
uses (one of its own, or one already running), and stopping cleanly on a signal or a time limit."""
