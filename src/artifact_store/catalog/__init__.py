"""Views derived from the event log, operational tables, queries, rebuild and migrations."""
