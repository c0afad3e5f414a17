"""Who is writing: temporary names and output locks that carry their writer's identity.

A temporary file is named ``.NAME.<pid>-<start>.<random>.part`` (start: the
process's start time, so a recycled pid is not mistaken for the writer). The
next write into a folder removes the temporaries whose writer is gone (killed
with -9, a power cut) and never those of a live one. An output lock
``.NAME.lock`` (like git's index.lock) holds the same identity: a second
writer to the same output is refused with a sentence naming the first, and
the lock of a dead writer is taken over.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Iterator

from latent_studio.core.errors import OutputError

_STALE = re.compile(r"^\..+\.(\d+)-(\d+)\.[A-Za-z0-9_]+\.(part|old)(\.[A-Za-z0-9]+)?$")


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux /proc), or None where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name in parentheses may hold spaces
    except (IndexError, ValueError):
        return None


def identity(pid: int | None = None) -> str:
    """``<pid>-<start>`` of this process (start 0 where the platform does not say)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}-{_start_time(pid) or 0}"


def is_alive(ident: str) -> bool:
    """Is the writer ``<pid>-<start>`` still running? Unknown counts as alive, so a live writer is never robbed."""
    try:
        pid, start = (int(v) for v in ident.split("-"))
    except ValueError:
        return True
    if pid == os.getpid():
        return start == (_start_time(pid) or 0)
    if Path("/proc/self/stat").exists():  # Linux: the pid must exist and have started at the same tick
        return _start_time(pid) == start if start else Path(f"/proc/{pid}").exists()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def temporary_prefix(path: Path) -> str:
    """The prefix for ``mkstemp``/``mkdtemp`` beside ``path``: hidden, named after it, carrying our identity."""
    return f".{Path(path).name}.{identity()}."


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporaries of writers that are no longer running; return what was removed."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _STALE.match(entry.name)
        if not match or is_alive(f"{match.group(1)}-{match.group(2)}"):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def lock_path(output: Path) -> Path:
    output = Path(output)
    return output.with_name(f".{output.name}.lock")


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[Path]:
    """Hold ``.NAME.lock`` beside ``output`` while writing it; refuse if a live writer holds it, take over a dead one's."""
    lock = lock_path(output)
    mine = f"{identity()} {socket.gethostname()}\n"
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _read_lock(lock)
            stale = holder is not None and holder[1] == socket.gethostname() and not is_alive(holder[0])
            if not stale:  # a live writer, one on another machine, or a lock being written right now
                who = f"process {holder[0].split('-')[0]} on {holder[1]}" if holder else "another process"
                raise OutputError(f"{output} is being written by another Latent Studio ({who}); wait for it to finish "
                                  f"or choose another name (if no such process runs, delete {lock.name}).") from None
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()  # the writer is gone: take its lock over
            continue
        except OSError as exc:
            raise OutputError(f"Could not lock {output} for writing: {exc.strerror or exc}. Nothing was written.") from exc
        with os.fdopen(fd, "w") as handle:
            handle.write(mine)
        break
    else:
        raise OutputError(f"Could not lock {output} for writing: other writers keep taking it. Nothing was written.")
    try:
        yield lock
    finally:
        if _read_lock(lock) == tuple(mine.split()):
            with contextlib.suppress(OSError):
                lock.unlink()


def _read_lock(lock: Path) -> tuple[str, str] | None:
    try:
        parts = lock.read_text().split()
    except (OSError, UnicodeDecodeError):
        return None
    return (parts[0], parts[1]) if len(parts) == 2 else None
