"""Small filesystem helpers shared by every writer: atomic writes, temporary names, output checks.

Written by hand because no library we depend on offers an atomic "write to temp name, fsync, rename" context
manager for paths that other libraries (rasterio, json, torch.save) write themselves.

Every temporary beside an output is named ``.<output name>.<pid>-<random>`` (plus the output's suffix and ``.part``
for files), so the next run can tell who owns it. **Stale-temporary rule** (:func:`clean_stale_temporaries`): a
temporary whose owner process is gone (its pid no longer runs) is removed the first time a later run writes into
that folder; one of a running process is never touched, so a concurrent run is not broken. A temporary in the
older, pid-less naming is removed when it belongs to the same output and was last modified before this run
started.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gee_flood.errors import InputError

#: When this process started using this module (what "older than the run" compares to), seconds since the epoch.
_RUN_STARTED = time.time()

#: This naming, with the owner's pid: ``.<name>.<pid>-<8 random><suffix>.part`` files (tempfile's random part is 8
#: characters of ``[a-z0-9_]``) and ``.<name>.<pid>-[<label>-]<8 random>`` folders.
_OWNED_FILE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[a-z0-9_]{8}(\.[A-Za-z0-9]+)?\.part$")
_OWNED_FOLDER = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-([a-z0-9]+-)?[a-z0-9_]{8}$")
#: The pid-less naming of older versions: ``.<name>.<8 random><suffix>.part`` files, ``.<name>.[s1.]<8 random>``
#: folders.
_LEGACY_FILE = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(\.[A-Za-z0-9]+)?\.part$")
_LEGACY_FOLDER = re.compile(r"^\.(?P<name>.+)\.(s1\.)?[a-z0-9_]{8}$")

_cleaned_folders: set[Path] = set()
_cleaned_lock = threading.Lock()


def _temporary_prefix(final: Path) -> str:
    """Return the prefix of this process's temporaries of ``final``: ``.<name>.<pid>-``."""
    return f".{final.name}.{os.getpid()}-"


def _process_is_running(pid: int) -> bool:
    """Return True if a process with this pid exists (signal 0 checks without sending anything)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _is_stale(entry: os.DirEntry[str], names: set[str]) -> bool:
    folder = entry.is_dir(follow_symlinks=False)
    owned = (_OWNED_FOLDER if folder else _OWNED_FILE).match(entry.name)
    if owned is not None:
        return not _process_is_running(int(owned["pid"]))
    legacy = (_LEGACY_FOLDER if folder else _LEGACY_FILE).match(entry.name)
    if legacy is None or legacy["name"] not in names:
        return False
    try:
        return entry.stat(follow_symlinks=False).st_mtime < _RUN_STARTED
    except FileNotFoundError:
        return False


def clean_stale_temporaries(final_path: str | os.PathLike[str]) -> list[Path]:
    """Remove stale temporaries in the folder of ``final_path`` (see the module's stale-temporary rule).

    The folder is scanned once per process (later calls for the same folder return at once), so writers call this
    freely. Removal is best effort: a temporary that vanishes or cannot be removed meanwhile is left alone.

    Args:
        final_path: An output about to be written; temporaries of every output in its folder whose owner is gone,
            and pid-less temporaries of this output older than the run, are removed.

    Returns:
        The temporaries removed.
    """
    final = Path(final_path)
    folder = final.parent.resolve() if final.parent.exists() else None
    if folder is None:
        return []
    with _cleaned_lock:
        if folder in _cleaned_folders:
            return []
        _cleaned_folders.add(folder)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(".") or not _is_stale(entry, {final.name}):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def check_writable(path: str | os.PathLike[str], *, option: str = "--out", directory: bool = False) -> Path:
    """Check, before any work, that an output can be written: refuse it in one line if not.

    The nearest existing folder on the way to ``path`` must be a directory this process can create files in
    (checked by creating and removing a temporary file there, which also catches read-only file systems); a file
    output must not be an existing directory, a folder output must not be an existing file. Nothing is created.

    Args:
        path: The output (a file, or a folder when ``directory``).
        option: The option that named it, for the message (``--out``, ``--polygons``...).
        directory: True if the output is a folder.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        InputError: Naming ``option`` and the path, saying why it cannot be written.
    """
    target = Path(path).expanduser()
    if "\x00" in str(target):
        raise InputError(f"{option} {str(target)!r}: a path cannot contain a NUL byte")
    if target.exists() or target.is_symlink():
        if directory and not target.is_dir():
            raise InputError(f"{option} {target}: exists and is not a directory")
        if not directory and target.is_dir():
            raise InputError(f"{option} {target}: is a directory; give a file path")
    probe_in = target if directory and target.is_dir() else target.parent
    while not probe_in.exists():
        if probe_in.is_symlink() or probe_in == probe_in.parent:  # a dangling link, or a root that is missing
            raise InputError(f"{option} {target}: {probe_in} cannot be created")
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise InputError(f"{option} {target}: {probe_in} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=probe_in, prefix=".gee-flood-write-check-"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"{option} {target}: cannot write in {probe_in} ({reason})") from None
    _check_temporary_name(target, probe_in, option)
    return target


#: Characters a temporary's name adds to its output's: ``.``, ``.<pid>-``, a label, 8 random, the suffix, ``.part``.
_TEMPORARY_NAME_EXTRA = 40


def _check_temporary_name(target: Path, folder: Path, option: str) -> None:
    """Refuse, before any work, an output whose temporary name (longer than its own) the file system cannot hold."""
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    longest = len(os.fsencode(target.name)) + len(os.fsencode(target.suffix)) + _TEMPORARY_NAME_EXTRA
    if longest > name_max:
        raise InputError(
            f"{option} {target}: the name is too long to be written safely ({len(target.name)} characters; its "
            f"temporary name needs {longest} of the {name_max} this file system allows); choose a shorter name"
        )


def describe_os_error(error: OSError) -> str:
    """Return one line for an :class:`OSError` that reached a command: the file, and what went wrong.

    Used at the CLI boundary for failures no check could foresee (the disk filled up, a folder became read-only).
    """
    if error.filename is None:  # not about a file: a dropped connection (requests' errors are OSErrors too)...
        return f"{type(error).__name__}: {' '.join(str(error).split())[:400]}"
    path = error.filename
    reason = error.strerror or " ".join(str(error).split()) or type(error).__name__
    # Only errors that writing alone raises say "cannot write"; a refused permission may be a read of an input.
    writing = error.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG)
    return f"cannot write {path}: {reason}" if writing else f"{path}: {reason}"


#: Errors that only writing raises (a full disk, a quota, a read-only file system, a file-size limit).
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)
#: Outputs written by GDAL, whose failed writes may not raise (see :func:`_check_raster_reads_back`).
_RASTER_SUFFIXES = (".tif", ".tiff")


def _write_failure_errno(path: Path) -> tuple[int, str]:
    """Guess why a file came out incomplete: the process's file-size limit, a full disk, else an I/O error."""
    import resource

    size = path.stat().st_size
    soft_limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if soft_limit != resource.RLIM_INFINITY and size >= soft_limit:
        return errno.EFBIG, os.strerror(errno.EFBIG)
    if shutil.disk_usage(path.parent).free < 1 << 20:
        return errno.ENOSPC, os.strerror(errno.ENOSPC)
    return errno.EIO, "the file was written incompletely (it does not read back)"


def _check_raster_reads_back(path: Path) -> None:
    """Read the last block of every band of the GeoTIFF at ``path``; raise an :class:`OSError` naming it if that fails.

    GDAL may report a failed write only as a log message: libtiff's ``_tiffWriteProc`` error on a full disk (or a
    file-size limit) while the file is flushed at close, and the writer returns normally with a truncated file.
    Writers write a GeoTIFF's last block last (a COG's full-resolution tiles follow its overviews), so a file cut
    short fails here, before it is renamed into place, for the cost of one block per band.

    Raises:
        OSError: ``ENOSPC``, ``EFBIG`` or ``EIO`` (see :func:`_write_failure_errno`), naming ``path``.
    """
    import rasterio

    try:
        with rasterio.open(path) as dataset:
            for band in dataset.indexes:
                *_, (_, last) = dataset.block_windows(band)
                dataset.read(band, window=last)
    except rasterio.errors.RasterioError:
        code, reason = _write_failure_errno(path)
        raise OSError(code, reason, str(path)) from None


@contextlib.contextmanager
def temporary_directory(final_path: str | os.PathLike[str], *, label: str = "") -> Iterator[Path]:
    """Yield a scratch folder beside ``final_path`` (same file system, so results rename into place), removed after.

    Named ``.<name>.<pid>-[<label>-]<random>`` so a later run can remove it if this process is killed (see
    :func:`clean_stale_temporaries`).
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(final)
    prefix = _temporary_prefix(final) + (f"{label}-" if label else "")
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=prefix) as workdir:
        yield Path(workdir)


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it into place only if the block succeeds.

    A crash or exception at any moment leaves either the previous file or no file at ``final_path``, never a
    half-written one. The temporary file keeps the final suffix so format-sniffing writers (rasterio) work. A
    temporary left by a killed run is removed by a later run (see :func:`clean_stale_temporaries`).

    Args:
        final_path: Where the finished file should end up.
        suffix: Suffix of the temporary file; defaults to the final path's suffix.

    Yields:
        The temporary path to write to.
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(final)
    fd, tmp_name = tempfile.mkstemp(
        prefix=_temporary_prefix(final),
        suffix=(suffix if suffix is not None else final.suffix) + ".part",
        dir=final.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # let the writer create it; some writers refuse to overwrite
    try:
        try:
            yield tmp
            if not tmp.exists():
                raise FileNotFoundError(f"{tmp}: writer produced no file")
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            if tmp.suffix.lower() in _RASTER_SUFFIXES or final.suffix.lower() in _RASTER_SUFFIXES:
                _check_raster_reads_back(tmp)
            os.replace(tmp, final)
        except OSError as error:
            # A write error names the temporary, or no file at all (Python's buffered write failing at close):
            # the user knows the output, not its hidden temporary, so a full disk is reported against ``final``.
            names_tmp = str(error.filename) == str(tmp)
            unnamed_write = error.filename is None and error.errno in _WRITE_ERRNOS
            if error.errno is None or not (names_tmp or unnamed_write):
                raise
            raise OSError(error.errno, error.strerror, str(final)) from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_json_atomic(path: str | os.PathLike[str], payload: Any, *, indent: int = 2) -> Path:
    """Write ``payload`` as JSON to ``path`` atomically and return the path."""
    final = Path(path)
    with atomic_path(final) as tmp:
        tmp.write_text(json.dumps(payload, indent=indent, sort_keys=False, default=_json_default) + "\n")
    return final


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    final = Path(path)
    with atomic_path(final) as tmp:
        tmp.write_text(text)
    return final


def _json_default(value: Any) -> Any:
    # numpy scalars and paths are common in results; convert them instead of failing.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


#: Files the project writes for a role of their own, which no command's ``--out`` may replace: by suffix, and by name.
_PROJECT_SUFFIXES = {".ckpt": "a checkpoint", ".pt": "a checkpoint", ".pth": "a checkpoint"}
_PROJECT_NAMES = {"manifest.json": "a corpus manifest", ".gee-flood-fetch.lock": "a corpus lock"}


def resolved(path: str | os.PathLike[str], *, option: str) -> Path:
    """Return ``path`` with ``~`` expanded and symlinks followed, or refuse it in one line (a symlink loop).

    Raises:
        InputError: Naming ``option`` and the path.
    """
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as error:  # Python raises RuntimeError for a symlink loop
        reason = "a symlink loop" if "loop" in str(error).lower() or isinstance(error, RuntimeError) else error
        raise InputError(f"{option} {path}: cannot be resolved ({reason})") from None


def _project_role(path: Path) -> str | None:
    """The role of an existing file the project wrote (a checkpoint, a corpus manifest...), or None."""
    if not path.is_file():
        return None
    return _PROJECT_SUFFIXES.get(path.suffix.lower()) or _PROJECT_NAMES.get(path.name)


def check_outputs(
    outputs: Mapping[str, str | os.PathLike[str] | None],
    inputs: Mapping[str, str | os.PathLike[str] | None] | None = None,
    *,
    directories: frozenset[str] = frozenset(),
) -> None:
    """The one check every command makes of its outputs before any work: no input is ever an output.

    Each output (symlinks followed) must not be one of the inputs, another output, or an existing file the project
    wrote for another role (a checkpoint, a corpus manifest), and must be writable (:func:`check_writable`).

    Args:
        outputs: The command's outputs by option (``{"--out": path}``); None entries are skipped.
        inputs: The command's inputs by option (files or folders); None entries are skipped.
        directories: The options of ``outputs`` that are folders.

    Raises:
        InputError: Naming the option, the path and what it would have replaced.
    """
    seen: dict[Path, str] = {}
    for option, path in (inputs or {}).items():
        if path is not None:
            seen.setdefault(resolved(path, option=option), option)
    for option, path in outputs.items():
        if path is None:
            continue
        target = resolved(path, option=option)
        if target in seen:
            raise InputError(f"{option} {path}: the same file as {seen[target]}; choose another path")
        role = _project_role(target)
        if role is not None and option not in directories:
            raise InputError(f"{option} {path}: is {role} (an input of another command); choose another path")
        seen[target] = option
        check_writable(path, option=option, directory=option in directories)
