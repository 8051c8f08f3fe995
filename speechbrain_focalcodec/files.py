"""Outputs that appear whole or not at all.

Every file this package writes (audio, token files, manifests, exported codecs,
checkpoint files) is written to a temporary file in the destination's folder and renamed
into place: a failure, a kill or a full disk leaves the previous file (or nothing), never
a partial one, and two writers of one path never interleave: the last rename wins whole.

Authors
 * speechbrain-focalcodec developers 2026
"""

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

__all__ = [
    "OutputError",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "current_umask",
    "make_folder",
]

PathLike = Union[str, "os.PathLike[str]"]


class OutputError(OSError):
    """An output could not be written; the message names the path and the reason."""


def _describe(error: OSError, path: Path) -> str:
    if error.errno == errno.ENOSPC:
        return f"No space left on device while writing {path}"
    if error.errno in (errno.EEXIST, errno.ENOTDIR):  # a parent folder is a file
        for parent in path.parents:
            if parent.is_file():
                return f"cannot write {path}: {parent} is not a folder"
    reason = error.strerror or str(error)
    return f"cannot write {path}: {reason}"


def make_folder(path: PathLike) -> Path:
    """Creates the folder ``path`` and its parents, if missing; errors are one-line.

    Arguments
    ---------
    path : str or os.PathLike
        The folder.

    Returns
    -------
    folder : pathlib.Path

    Raises
    ------
    OutputError
        When the folder cannot be created (for instance, ``path`` is a file).

    Example
    -------
    >>> folder = make_folder(getfixture("tmp_path") / "a" / "b")
    >>> folder.is_dir()
    True
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if path.is_file():
            raise OutputError(f"cannot write into {path}: it is a file, not a folder") from None
        raise OutputError(_describe(error, path)) from None
    return path


def current_umask() -> int:
    """The process's file-creation mask.

    Read from ``/proc/self/status`` where the system has it (Linux), so that the
    mask is never changed: ``os.umask`` can only read it by setting another one,
    and a file that another thread creates meanwhile would get that other mask.
    Elsewhere it is read so, through the strictest mask (``0o077``).

    Returns
    -------
    umask : int

    Example
    -------
    >>> umask = os.umask(0o027)
    >>> current_umask() == 0o027
    True
    >>> _ = os.umask(umask)
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o077)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(path: PathLike, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path in ``path``'s folder, renamed to ``path`` when the block succeeds.

    Whatever the block writes to the yielded path (a file, or a folder) replaces ``path``
    in one rename; when the block raises, the temporary file is removed and ``path`` is left
    as it was. Missing parent folders are created.

    Arguments
    ---------
    path : str or os.PathLike
        The final output.
    mode : int
        Permission bits of the output (umask applied), as ``open`` would give a new file.

    Yields
    ------
    temporary : pathlib.Path
        Where to write.

    Example
    -------
    >>> out = getfixture("tmp_path") / "out.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("whole")
    >>> out.read_text()
    'whole'
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.close(fd)
    except OSError as error:
        raise OutputError(_describe(error, path)) from None
    temporary = Path(name)
    try:
        yield temporary
        if temporary.is_file():
            os.chmod(temporary, mode & ~current_umask())
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        if isinstance(error, OutputError):
            raise
        raise OutputError(_describe(error, path)) from None
    except BaseException:
        _remove(temporary)
        raise


def _remove(temporary: Path) -> None:
    with contextlib.suppress(OSError):
        if temporary.is_dir() and not temporary.is_symlink():
            shutil.rmtree(temporary)
        else:
            temporary.unlink()


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """``open(path, mode)`` whose content appears at ``path`` only when the block succeeds.

    Arguments
    ---------
    path : str or os.PathLike
        The final output.
    mode : str
        A writing mode of ``open`` (``"w"``, ``"wb"``, ``"x"`` is not supported).
    **kwargs : dict
        Passed to ``open`` (``encoding``, ``newline``...).

    Yields
    ------
    stream : file object

    Example
    -------
    >>> out = getfixture("tmp_path") / "out.bin"
    >>> with atomic_open(out) as stream:
    ...     _ = stream.write(b"abc")
    >>> out.read_bytes()
    b'abc'
    """
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes new content: mode must start with 'w', got {mode!r}")
    with atomic_path(path) as temporary:
        try:
            with open(temporary, mode, **kwargs) as stream:
                yield stream
                stream.flush()
                os.fsync(stream.fileno())
        except OSError as error:
            raise OutputError(_describe(error, Path(path))) from None


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` whole or not at all (see ``atomic_path``).

    Arguments
    ---------
    path : str or os.PathLike
        The output.
    data : bytes
        Its content.

    Example
    -------
    >>> out = getfixture("tmp_path") / "a.bin"
    >>> atomic_write_bytes(out, b"xyz")
    >>> out.read_bytes()
    b'xyz'
    """
    with atomic_open(path, "wb") as stream:
        stream.write(data)


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Writes ``text`` to ``path`` whole or not at all (see ``atomic_path``).

    Arguments
    ---------
    path : str or os.PathLike
        The output.
    text : str
        Its content.
    encoding : str
        Text encoding.

    Example
    -------
    >>> out = getfixture("tmp_path") / "a.txt"
    >>> atomic_write_text(out, "hello")
    >>> out.read_text()
    'hello'
    """
    with atomic_open(path, "w", encoding=encoding) as stream:
        stream.write(text)
