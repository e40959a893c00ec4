"""The HTTP front end (FastAPI): thin routes over ``ArtifactStore``; no business rules."""
