"""The ``artifact-store`` command line: local mode on a data directory (remote mode: issue #3)."""
