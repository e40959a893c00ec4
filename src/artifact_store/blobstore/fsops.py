"""The file-system seam of ``LocalBlobStore``: every durability-relevant syscall goes through an
``FsOps`` (default :class:`OsFs`), so tests inject failures (an fsync raising ``EIO``) or record
the sequence of operations (RELIABILITY.md §8.1 H3/H4) without mocking the store."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Final, Protocol

from artifact_store.errors import (
    StorageUnavailableError,
)

__all__ = ["DIR_MODE", "STAGED_MODE", "FsOps", "OsFs", "unavailable"]


#: Mode of a staged file (only this process writes it).
STAGED_MODE: Final = 0o600
#: Mode of the directories the store creates.
DIR_MODE: Final = 0o755
#: 0 where the platform has no direct I/O (then the buffered path is used).
_O_DIRECT: Final = getattr(os, "O_DIRECT", 0)


class FsOps(Protocol):
    """The syscalls whose order and success decide durability; one object per store."""

    def open(self, path: Path, flags: int, mode: int = STAGED_MODE) -> int:
        """``os.open``."""
        ...

    def write(self, fd: int, data: bytes | memoryview) -> int:
        """``os.write``; may write fewer bytes than given."""
        ...

    def fsync(self, fd: int) -> None:
        """``os.fsync`` (files and directories)."""
        ...

    def fdatasync(self, fd: int) -> None:
        """``os.fdatasync`` (early write-back of a large staged file)."""
        ...

    def fchmod(self, fd: int, mode: int) -> None:
        """``os.fchmod``."""
        ...

    def close(self, fd: int) -> None:
        """``os.close``."""
        ...

    def link(self, src: Path, dst: Path) -> None:
        """``os.link``; raises ``FileExistsError`` when ``dst`` exists."""
        ...

    def unlink(self, path: Path) -> None:
        """``os.unlink``."""
        ...

    def mkdir(self, path: Path, mode: int = DIR_MODE) -> None:
        """``os.mkdir``; raises ``FileExistsError`` when ``path`` exists."""
        ...

    def ftruncate(self, fd: int, size: int) -> None:
        """``os.ftruncate``."""
        ...

    def set_direct_io(self, fd: int, enabled: bool) -> None:
        """Turn ``O_DIRECT`` on or off; ``OSError(EINVAL)`` where the filesystem has none."""
        ...

    def drop_cache(self, fd: int, offset: int, length: int) -> None:
        """Advise the kernel to drop clean cached pages of a range (never fails)."""
        ...


class OsFs:
    """The real syscalls (the default :class:`FsOps`)."""

    def open(self, path: Path, flags: int, mode: int = STAGED_MODE) -> int:
        """``os.open``."""
        return os.open(path, flags, mode)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        """``os.write``."""
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        """``os.fsync``."""
        os.fsync(fd)

    def fdatasync(self, fd: int) -> None:
        """``os.fdatasync``."""
        os.fdatasync(fd)

    def fchmod(self, fd: int, mode: int) -> None:
        """``os.fchmod``."""
        os.fchmod(fd, mode)

    def close(self, fd: int) -> None:
        """``os.close``."""
        os.close(fd)

    def link(self, src: Path, dst: Path) -> None:
        """``os.link``."""
        os.link(src, dst)

    def unlink(self, path: Path) -> None:
        """``os.unlink``."""
        os.unlink(path)

    def mkdir(self, path: Path, mode: int = DIR_MODE) -> None:
        """``os.mkdir``."""
        os.mkdir(path, mode)

    def ftruncate(self, fd: int, size: int) -> None:
        """``os.ftruncate``."""
        os.ftruncate(fd, size)

    def set_direct_io(self, fd: int, enabled: bool) -> None:
        """``fcntl(F_SETFL)`` with or without ``O_DIRECT``."""
        if not _O_DIRECT:
            raise OSError(errno.EINVAL, "this platform has no O_DIRECT")
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | _O_DIRECT) if enabled else (flags & ~_O_DIRECT))

    def drop_cache(self, fd: int, offset: int, length: int) -> None:
        """``posix_fadvise(POSIX_FADV_DONTNEED)``; errors ignored (it is advice)."""
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def unavailable(action: str, key: str, exc: OSError) -> StorageUnavailableError:
    """The error for a failed file-system step (``OSError`` never crosses the seam)."""
    # Only the store-relative key is reported: error details reach HTTP clients.
    reason = exc.strerror or type(exc).__name__
    return StorageUnavailableError(
        f"local blob store could not {action} {key}: {reason}",
        action=action,
        key=key,
        errno=exc.errno,
    )
