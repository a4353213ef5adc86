"""A run folder written as one unit: files go into a temporary sibling folder, which then replaces the run
folder by renames, under a lock, so a reader (or a crash) never sees one run's policy beside another's trainer.

    with RunFolder("runs/a", overwrite=False) as run:     # checks and locks now, before any training
        run.publish({"policy.pt": save_policy, "config.json": write_json, ...})   # as often as wanted

Layout beside `runs/a`: `.a.lock` (the flock file, left in place: deleting a lock file races with the next
locker), `.a.tmp-*` (a folder being written), `.a.old-*` (the previous contents during the swap).
Standard library only: the command line imports this before it knows whether it will train.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


class RunFolderError(ValueError):
    """The run folder cannot be used (not writable, not empty, locked by another run)."""


class RunFolder:
    """The run folder `out`, locked for this process from `__enter__` to `__exit__`.

    Args:
        out: the folder; its parent is created if missing.
        overwrite: replace an existing, non-empty folder (without it that is a RunFolderError).
        continuing: this run continues the one in `out` (resume into its own folder): no `overwrite` needed.
    """

    def __init__(self, out, overwrite: bool = False, continuing: bool = False):
        if str(out).strip() == "":
            raise RunFolderError("--out is empty: give a folder for the run, e.g. --out runs/a")
        self.path = Path(out).expanduser().absolute()
        if self.path.name in ("", ".", ".."):
            raise RunFolderError(f"--out {out}: name a folder of its own, not {self.path.name or '/'!r}")
        self.overwrite, self.continuing = overwrite, continuing
        self._lock = None

    def _sibling(self, kind: str) -> str:
        return f".{self.path.name}.{kind}"

    def __enter__(self) -> RunFolder:
        path = self.path
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"--out {path}: exists and is not a directory")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = open(path.parent / self._sibling("lock"), "a")  # noqa: SIM115 (held until __exit__)
        except OSError as e:
            raise RunFolderError(f"--out {path}: cannot create the run folder there ({e.strerror or e})") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            lock = path.parent / self._sibling("lock")
            raise RunFolderError(f"--out {path}: another dpedu process is writing this run folder (it holds {lock}); "
                                 "wait for it or choose another --out") from None
        try:
            self._recover()
            if path.is_dir() and any(path.iterdir()) and not (self.overwrite or self.continuing):
                held = ", ".join(sorted(p.name for p in path.iterdir()))
                raise RunFolderError(f"--out {path}: holds a run already ({held}); add --overwrite to replace it, "
                                     "or choose another --out")
            # Try the real thing now, not after training: a temporary folder beside the run folder.
            shutil.rmtree(self._new_tmp(), ignore_errors=True)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _new_tmp(self) -> Path:
        try:
            return Path(tempfile.mkdtemp(dir=self.path.parent, prefix=self._sibling("tmp-")))
        except OSError as e:
            raise RunFolderError(f"--out {self.path}: cannot write there ({e.strerror or e})") from None

    def _recover(self) -> None:
        """Under the lock nobody else writes here: clear what a killed run left mid-write or mid-swap."""
        parent = self.path.parent
        for tmp in parent.glob(self._sibling("tmp-*")):
            shutil.rmtree(tmp, ignore_errors=True)
        olds = sorted(parent.glob(self._sibling("old-*")))
        if olds and not self.path.exists():  # killed between the two renames of publish(): the old run is whole
            os.replace(olds.pop(), self.path)
        for old in olds:
            shutil.rmtree(old, ignore_errors=True)

    def publish(self, writers: dict[str, Callable[[Path], object]]) -> Path:
        """Write every file (name -> writer(path)) into a new temporary folder, then make it the run folder."""
        if self._lock is None:
            raise RuntimeError("RunFolder.publish outside `with RunFolder(...)`")
        tmp = self._new_tmp()
        try:
            for name, write in writers.items():
                write(tmp / name)
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give what a plain mkdir would
            old = None
            if self.path.exists():
                old = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=self._sibling("old-")))
                os.replace(self.path, old)  # an empty folder is replaced by rename(2)
            os.replace(tmp, self.path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.path

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def atomic_write_text(path: Path, text: str) -> Path:
    """Write a text file by a temporary sibling and a rename: a reader sees the old file or the new, whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
