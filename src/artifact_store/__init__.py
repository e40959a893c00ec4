"""artifact-store: a generic artifact registry and storage gateway."""
