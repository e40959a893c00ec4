"""The HTTP routes: ``v1/`` (one router module per resource) and ``ops`` (health, metrics)."""
