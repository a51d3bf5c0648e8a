"""Safe file writing: temporary file + lock + a final step that never replaces by surprise.

:func:`atomic_path` writes to a hidden part file next to the target and, on success, moves it
onto the target. Guarantees:

* a crash, Ctrl-C, SIGTERM or a stopped worker never leaves a half-written file at the target:
  either the previous file (if any) or the complete new one is there;
* nothing the user did not ask to replace is replaced: with ``overwrite=False`` an existing file
  is an error at the start and the final step refuses to replace a file that appeared during the
  run (``renameat2(RENAME_NOREPLACE)``, else ``link`` + ``unlink``); with ``overwrite=True`` only
  the file that existed when the writing started is replaced (a file put there meanwhile is not);
* a second process writing the same target gets :class:`OutputBusyError` at once (an
  ``flock`` on ``.<name>.lock`` held while writing);
* part files are named ``.<name>.<pid>.<random>.part<ext>``; part files of processes that no
  longer run (killed with ``kill -9``, power loss) are removed by the next write in the folder;
* a full disk raises :class:`DiskFullError` naming the target, after removing the part file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from napari_mpi_dl import _signals

_PART_RE = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]{8}\.part(\.[^.]*)?$")
_NO_SPACE_WORDS = ("no space left", "errno = 28")


class OutputExistsError(FileExistsError):
    """The target exists (or appeared during the run) and may not be replaced."""


class OutputBusyError(OSError):
    """Another process is writing the same target right now."""


class DiskFullError(OSError):
    """The device holding the target ran out of space; the target was not touched."""


def atomic_path(path: str | os.PathLike, *, suffix: str | None = None,
                overwrite: bool = True) -> contextlib.AbstractContextManager[Path]:
    """Yield a temporary path next to ``path``; on success it is moved onto ``path``.

    The temporary name ends with the target's extension (``numpy.save`` appends ``.npy``
    otherwise, and some writers pick the format from the extension).

    Use it with any writer that takes a file name (h5py, tifffile, torch.save, numpy.save)::

        with atomic_path("data.h5", overwrite=False) as tmp:
            with h5py.File(tmp, "w") as f:
                ...

    Parameters
    ----------
    path : path-like
        The target file.
    suffix : str, optional
        Ending of the temporary name (default ``.part`` + the target's extension).
    overwrite : bool
        False: an existing target is an error (:class:`OutputExistsError`), also when it
        appears while writing. True: the file that existed at the start is replaced; a file
        created or swapped in by someone else while writing is not (``OutputExistsError``).

    On an exception (KeyboardInterrupt included) the temporary file is removed and ``path`` is
    left untouched. A full disk raises :class:`DiskFullError`.
    """
    return _atomic_path(Path(path), suffix, overwrite)


@contextlib.contextmanager
def _atomic_path(target: Path, suffix: str | None, overwrite: bool) -> Iterator[Path]:
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"{target} is a directory; give a file name",
                                str(target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _named(exc, target) from None
    with _lock(target):
        before = _stat(target)
        if before is not None and not overwrite:
            raise OutputExistsError(errno.EEXIST, f"{target} exists; choose another name or "
                                    "allow overwriting (--overwrite)", str(target))
        remove_stale_part_files(target.parent)
        try:
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{target.name}.{os.getpid()}.",
                suffix=suffix if suffix is not None else ".part" + target.suffix,
                dir=target.parent)
        except OSError as exc:
            raise _named(exc, target) from None
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            yield tmp
            _signals.check()  # never complete a file after a stop request
            _fsync(tmp)
            _chmod_like_a_new_file(tmp)
            _commit(tmp, target, before)
        except BaseException as exc:
            full = _is_disk_full(exc, target.parent)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            if full:
                raise disk_full_error(target) from exc
            raise


def disk_full_error(target: str | os.PathLike) -> DiskFullError:
    """The one message for a full disk: which file, and that nothing was damaged."""
    state = "the previous file is intact" if Path(target).exists() else "no file was left there"
    return DiskFullError(errno.ENOSPC, f"no space left on device while writing {target}; "
                         f"nothing was written, {state}", str(target))


def ensure_free_space(target: str | os.PathLike, nbytes: int) -> None:
    """Raise :class:`DiskFullError` before writing if the device holding ``target`` has less
    than ``nbytes`` free (some writers, e.g. HDF5, cannot fail cleanly once the disk fills)."""
    folder = Path(target).parent
    try:
        st = os.statvfs(folder if folder.exists() else ".")
    except (OSError, AttributeError):
        return
    if st.f_bavail * st.f_frsize < nbytes:
        raise disk_full_error(target)


def _named(exc: OSError, target: Path) -> OSError:
    """The same kind of OSError, naming the user's target instead of a temporary path."""
    reason = exc.strerror or str(exc)
    return type(exc)(exc.errno, f"cannot write {target}: {reason}", str(target))


def _stat(path: Path):
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _commit(tmp: Path, target: Path, before) -> None:
    if before is not None:
        now = _stat(target)
        if now is not None and now != before:
            raise OutputExistsError(
                errno.EEXIST, f"{target} was changed by someone else while this run was "
                "writing it; it was left as it is and the new result was discarded",
                str(target))
        if now is not None:
            os.replace(tmp, target)
            return
    try:
        _rename_noreplace(tmp, target)
    except FileExistsError:
        raise OutputExistsError(
            errno.EEXIST, f"{target} appeared while this run was writing it (another program "
            "created it); it was left as it is and the new result was discarded",
            str(target)) from None


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename that fails with FileExistsError instead of replacing ``dst``."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        ret = renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst),
                        _RENAME_NOREPLACE)
        if ret == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, os.strerror(err), str(dst))
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
            raise OSError(err, os.strerror(err), str(dst))
    os.link(src, dst)  # fails with FileExistsError if dst exists
    os.unlink(src)


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    """Exclusive, non-blocking ``flock`` on ``.<name>.lock`` next to ``target``."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return

    lock_path = target.with_name(f".{target.name}.lock")
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _named(exc, target) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise OutputBusyError(
                errno.EBUSY, f"{target} is being written by another process{who}; wait for it "
                "to finish or choose another output", str(target)) from None
        # the holder before us may have removed the file between our open and flock
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """True if a process with this id exists (zombies count as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def remove_stale_part_files(folder: str | os.PathLike) -> list[Path]:
    """Remove part files in ``folder`` left by processes that no longer run; return them."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _PART_RE.match(name)
        if m is None or int(m.group(1)) == os.getpid() or pid_alive(int(m.group(1))):
            continue
        path = Path(folder) / name
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def _is_disk_full(exc: BaseException, folder: Path) -> bool:
    """ENOSPC/EDQUOT, or a write error of any wording (h5py, torch: "file write failed",
    "unexpected pos ...") while the device has less than 1 MiB left."""
    for e in (exc, exc.__cause__, exc.__context__):
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(e, OSError | RuntimeError):
            if any(w in str(e).lower() for w in _NO_SPACE_WORDS):
                return True
            with contextlib.suppress(OSError):
                st = os.statvfs(folder)
                if st.f_bavail * st.f_frsize < 2**20:
                    return True
    return False


def _chmod_like_a_new_file(path: Path) -> None:
    """mkstemp creates mode 0600; give the file the mode ``open()`` would (0666 & ~umask)."""
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666 & ~umask)


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        os.fsync(fh.fileno())


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)
