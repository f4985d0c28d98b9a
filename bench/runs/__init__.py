"""One run end to end: its configuration, the runner, and the results record written to disk."""
