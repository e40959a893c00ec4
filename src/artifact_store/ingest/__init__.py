"""Bytes in: the upload-session state machine and the resumable upload orchestration."""
