"""Atomic file writes: a temp file beside the target, fsync, rename.

A crash, a cancel or a full disk leaves either the old file or the new one,
never a half-written file under the user's name.
"""

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from latent_studio.core.errors import OutputError
from latent_studio.core.writers import remove_stale_temporaries, temporary_prefix


def _read_umask() -> int:
    """Read once at import, while no other thread can be creating files under a zero umask."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _read_umask()
NEW_FILE_MODE = 0o666 & ~UMASK
NEW_FOLDER_MODE = 0o777 & ~UMASK


def check_writable_destination(path: Path) -> Path:
    """Fail before any work is done if ``path`` cannot be written."""
    path = Path(path).expanduser()
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"Output path {path} is a folder; give a file name, e.g. {path / 'out.png'}.")
    if not parent.is_dir():
        raise OutputError(f"Output folder {parent} does not exist; create it first or choose another path.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"Output folder {parent} is not writable; choose another path.")
    return path


def same_file(a: Path, b: Path) -> bool:
    """True when two paths name one file: the same resolved path, or the same inode (a hard link)."""
    a, b = Path(a).expanduser(), Path(b).expanduser()
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_an_input(output: Path, inputs, what: str = "input") -> None:
    """Refuse to write over a file this command reads, whatever --force says."""
    for source in inputs:
        if source is not None and same_file(output, source):
            raise OutputError(f"{output} is also this command's {what} ({source}); choose another output name. "
                              "Nothing was written.")


def check_replaceable(path: Path, force: bool) -> None:
    """Refuse an existing file unless the user said --force."""
    path = Path(path).expanduser()
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputError(f"{path} already exists; add --force to replace it or choose another name. Nothing was written.")


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary file; on success it replaces ``path``, on any error it vanishes."""
    path = check_writable_destination(path)
    remove_stale_temporaries(path.parent)
    prefix = temporary_prefix(path)
    tmp: Path | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=path.parent)
        tmp = Path(tmp_name)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600); give it the mode the old file had, or a normal new file's.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else NEW_FILE_MODE)
        os.replace(tmp, path)
    except OSError as exc:
        _remove_temporary(tmp, path.parent, prefix)
        raise OutputError(f"Could not write {path}: {exc.strerror or exc}. Nothing was written.") from exc
    except BaseException:
        _remove_temporary(tmp, path.parent, prefix)
        raise
    _fsync_directory(path.parent)


def _remove_temporary(tmp: Path | None, folder: Path, prefix: str) -> None:
    """Remove our temporary; when a signal struck between its creation and ``tmp`` being set, the ones our prefix names."""
    if tmp is not None:
        tmp.unlink(missing_ok=True)
        return
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if entry.name.startswith(prefix) and entry.name.endswith(".part"):
                entry.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_writer(path) as handle:
        handle.write(data)


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
