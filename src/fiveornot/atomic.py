"""Write files so that a reader sees either the old file or the complete new one, never half of one.

The new content goes to a temporary file in the same directory (so the rename cannot cross file systems),
is flushed to disk, and is then renamed over the target with `os.replace`, which is atomic. A process
killed mid-write leaves only a hidden ``.NAME.*.tmp`` file behind, which no reader looks at and
`remove_stale_temporaries` sweeps up later.
"""

import contextlib
import os
import tempfile
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_write(path):
    """Open a binary file that replaces `path` only when the ``with`` block finishes without an error.

    Parameters
    ----------
    path : str or Path
        The file to create or replace. Its directory must exist.

    Yields
    ------
    file
        A writable binary file object (a temporary file next to `path`).
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    try:
        with os.fdopen(descriptor, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def remove_stale_temporaries(directory) -> None:
    """Delete temporary files that killed writers left in `directory` (call only while holding its lock)."""
    for leftover in Path(directory).glob(f".*{TEMPORARY_SUFFIX}"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
