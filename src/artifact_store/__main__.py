"""``python -m artifact_store`` runs the command line."""

from artifact_store.cli.main import main

main()
