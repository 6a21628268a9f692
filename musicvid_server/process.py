"""Process handling: one server per data directory, enforced with an OS file lock.

The lock dies with the process (even on SIGKILL), so a crashed server never blocks the
next start, while a second server on the same data directory is refused: it would
otherwise take the first one's running jobs for interrupted ones and run them twice.
This is the only module that imports platform-specific things.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from musicvid.errors import MusicVidError

__all__ = ["DataDirLock", "DataDirBusy"]


class DataDirBusy(MusicVidError):
    """Another server process is using this data directory."""


class DataDirLock:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "server.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data dir
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        f = os.fdopen(fd, "a+", encoding="utf-8")  # held until release()
        try:
            if sys.platform == "win32":
                import msvcrt

                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise DataDirBusy(
                f"another musicvid server is already using the data directory "
                f"{self.path.parent}; stop it, or pass a different --data-dir") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is None:
            return
        try:
            if sys.platform == "win32":
                import msvcrt

                self._file.seek(0)
                msvcrt.locking(self._file.fileno(), msvcrt.LK_UNLCK, 1)
            else:
                import fcntl

                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._file.close()
            self._file = None
