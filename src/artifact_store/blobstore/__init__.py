"""The data plane: bytes addressed by sha256, behind the ``BlobStore`` protocol."""
