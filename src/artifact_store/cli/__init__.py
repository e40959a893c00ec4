"""The ``artifact-store`` command line: local mode on a data directory, remote mode (``--url``)
on a server through the SDK."""
