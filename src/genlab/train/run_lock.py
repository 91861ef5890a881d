"""The run folder's lock while a process trains into it, and one-line messages for writes the system refused."""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path

from genlab.errors import GenlabError
from genlab.runfolder import LOCK_FILE


# Writes that fail for reasons outside genlab: a full disk, a lost permission, a path through a file.
IO_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR,
             errno.EEXIST, errno.ENAMETOOLONG}


def io_problem(error: OSError, path: Path | None = None) -> str:
    where = error.filename or path
    return f"{error.strerror or error}" + (f" ({where})" if where else "")


def io_hint(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some disk space"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make the run folder writable or choose another --out"
    return "check the run folder"


@contextlib.contextmanager
def run_lock(run_dir: Path, is_main: bool):
    """Hold the run folder's lock file while training, so that a second process training into the same
    folder stops at once with a clear error. The folder is created here; if nothing but the lock ends up
    in a folder created for this run (an error before training), it is removed again."""
    if not is_main:  # under torchrun rank 0 holds it for the job
        yield
        return
    from filelock import FileLock, Timeout

    if run_dir.exists() and not run_dir.is_dir():
        raise GenlabError(f"--out {run_dir} is a file, not a folder; choose another --out")
    # The outermost folder this call creates (runs/ too, for a first run), removed again if unused.
    created = next((folder for folder in reversed([run_dir, *run_dir.parents]) if not folder.exists()), None)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GenlabError(f"cannot create the run folder {run_dir}: {io_problem(error)}") from None
    lock = FileLock(str(run_dir / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise GenlabError(f"{run_dir} is being trained by another genlab process; wait for it to end or choose "
                          f"another --out") from None
    except OSError as error:
        raise GenlabError(f"cannot lock the run folder {run_dir}: {io_problem(error)}; {io_hint(error)}") from None
    try:
        yield
    finally:
        lock.release()
        if created is not None and {path.name for path in run_dir.iterdir()} <= {LOCK_FILE}:
            with contextlib.suppress(OSError):
                (run_dir / LOCK_FILE).unlink(missing_ok=True)
                for folder in [run_dir, *run_dir.parents]:
                    folder.rmdir()  # only empty folders; stops at the first that is not
                    if folder == created:
                        break
