"""The event log, source of truth: event types, body codec, hash chain, append and read."""
