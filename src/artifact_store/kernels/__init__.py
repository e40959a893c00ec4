"""Pure building blocks: digests, canonical CBOR, names, paths, limits, ranges, ids, clock."""
