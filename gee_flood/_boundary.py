"""The command line's last-resort boundary: every failure of any command becomes one line and a true exit code.

:class:`BoundaryGroup` is the click group class of the ``gee-flood`` app, so every command (those added later
included, in sub-groups too) runs inside :func:`command_boundary`; nothing is decorated per command. There:

- a :class:`~gee_flood.errors.GeeFloodError` prints its own line, ``error: <message>`` (its exit code: 2 for bad
  input, 1 for a remote failure...);
- an :class:`OSError` names its file (``error: cannot write <path>: <reason>``, exit 1), a pydantic
  ``ValidationError`` that escaped a loader its first problem (exit 2);
- any other exception (a bug, ``RecursionError``, ``OverflowError``, ``MemoryError``...) prints
  ``error: <command>: <ExceptionClass>: <message> (details: <log file>)`` and exits 1;
- Ctrl-C prints ``error: <command>: interrupted (Ctrl-C)`` and exits 130; SIGTERM (handler installed by the
  console script, :func:`install_sigterm_handler`; Lightning's own ``SIGTERMException`` too) prints
  ``error: <command>: terminated (SIGTERM)`` and exits 143.

The traceback of every failure but a :class:`GeeFloodError` is written to a log file in the system temporary
folder (``$TMPDIR/gee-flood-logs/``, or ``GEE_FLOOD_LOG_DIR``) whose path the line gives; ``gee-flood --debug ...``
or ``GEE_FLOOD_DEBUG=1`` also prints it on stderr.

Warnings: while a command runs, Python warnings are captured. Ours (:class:`~gee_flood.errors.GeeFloodWarning`) are
printed as ``warning: <message>`` lines; libraries' warnings (torch's pickle ``UserWarning``, Lightning's advice,
deprecations) are not shown, only kept for the log (and printed with ``--debug``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import typer
import typer.core

from gee_flood.errors import GeeFloodError, GeeFloodWarning

T = TypeVar("T")

#: Environment variable: print tracebacks (and library warnings) on stderr, as ``--debug`` does.
DEBUG_ENV = "GEE_FLOOD_DEBUG"
#: Environment variable: the folder of failure logs (default ``<system temp>/gee-flood-logs``).
LOG_DIR_ENV = "GEE_FLOOD_LOG_DIR"
#: Exit codes: a bug or failure, bad input, Ctrl-C, SIGTERM.
EXIT_FAILURE, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 1, 2, 130, 143
#: Longest message printed from an unexpected exception (a 5,000-digit number is cut, the log keeps it all).
_MESSAGE_CHARS = 300


class Terminated(BaseException):  # noqa: N818 - named after the signal's effect, like KeyboardInterrupt
    """Raised in the main thread when the process receives SIGTERM (see :func:`install_sigterm_handler`)."""


def install_sigterm_handler() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread, so the command unwinds and says so (exit 143).

    Lightning composes its own SIGTERM handler with this one during ``fit``; either way the run ends with one line.
    """

    def _raise(signum: int, frame: Any) -> None:
        raise Terminated()

    with contextlib.suppress(ValueError):  # not the main thread (embedded use): keep the default
        signal.signal(signal.SIGTERM, _raise)


#: Where C libraries' own stderr prints go while the console script runs (see :func:`native_stderr_to_log`).
_native_log: Path | None = None


def native_stderr_to_log() -> Path | None:
    """Send what C libraries print on stderr to a log file, keep Python's :data:`sys.stderr` on the terminal.

    File descriptor 2 is pointed at the log (libtiff's ``_tiffWriteProc: No space left on device``, PROJ, GDAL
    print there) and :data:`sys.stderr` at a copy of the terminal's; returns the log's path, or None.

    C libraries print past Python, around the one ``error:`` line; Python's own output (our lines, progress bars,
    warnings) goes through :data:`sys.stderr` and is unchanged. The log file is removed at exit if nothing was
    printed into it; a failure log names it. Not done with ``--debug``/``GEE_FLOOD_DEBUG`` (everything stays on
    the terminal) nor when stderr is not a file descriptor (embedded use). Written by hand: no library redirects a
    process's C-level stderr while keeping Python's.
    """
    global _native_log
    import atexit
    import faulthandler

    if debug_requested() or "--debug" in sys.argv[1:]:
        return None
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
        folder = _log_folder()
        folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        handle, name = tempfile.mkstemp(prefix=f"{stamp}-native-stderr-", suffix=".log", dir=folder)
    except (OSError, ValueError, AttributeError):
        return None
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr = open(terminal, "w", buffering=1, encoding=encoding, errors="backslashreplace")  # noqa: SIM115
    os.dup2(handle, 2)
    os.close(handle)
    faulthandler.enable(file=sys.stderr)  # a crash still says so on the terminal
    _native_log = Path(name)
    atexit.register(discard_empty_native_log)
    return _native_log


def discard_empty_native_log() -> None:
    """Remove the C libraries' log of :func:`native_stderr_to_log` if nothing was printed into it (at exit)."""
    with contextlib.suppress(OSError):
        if _native_log is not None and _native_log.stat().st_size == 0:
            _native_log.unlink()


def debug_requested(ctx: Any = None) -> bool:
    """Whether tracebacks go to stderr: ``--debug`` on the root command, or ``GEE_FLOOD_DEBUG`` set (not 0)."""
    root = ctx.find_root() if ctx is not None else None
    if root is not None and root.meta.get("gee_flood.debug"):
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _log_folder() -> Path:
    return Path(os.environ.get(LOG_DIR_ENV) or Path(tempfile.gettempdir()) / "gee-flood-logs")


def write_failure_log(command: str, error: BaseException, library_warnings: list[str]) -> Path | None:
    """Write the traceback of ``error`` (and the library warnings seen) to a new log file; return its path.

    Returns None if no log could be written (the line is printed anyway).
    """
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        folder = _log_folder()
        folder.mkdir(parents=True, exist_ok=True)
        prefix = f"{stamp}-{command.replace(' ', '-') or 'gee-flood'}-"
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=".log", dir=folder)  # a new name, even within a second
        os.close(handle)
        path = Path(name)
        lines = [f"gee-flood {command}: {' '.join(sys.argv)}\n"]
        try:
            lines += traceback.format_exception(error)
        except RecursionError:  # a traceback too deep to format: its last frames still say where
            lines += traceback.format_exception(error, limit=-50)
        lines += [f"library warning: {line}\n" for line in library_warnings]
        if _native_log is not None:
            lines.append(f"C libraries' messages (libtiff, GDAL, PROJ): {_native_log}\n")
        path.write_text("".join(lines))
    except (OSError, RecursionError):
        return None
    return path


def one_line(text: str, limit: int = _MESSAGE_CHARS) -> str:
    """Collapse whitespace and cut ``text`` to ``limit`` characters (with an ellipsis)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _message(error: BaseException) -> str:
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - an exception whose str() fails (ValueError of a huge int) still gets a line
        text = ""
    return one_line(text) or "(no message)"


def _describe(command: str, error: BaseException) -> tuple[str, int, bool]:
    """Return (line without ``error: ``, exit code, whether to log the traceback)."""
    from pydantic import ValidationError

    prefix = f"{command}: " if command else ""
    if isinstance(error, GeeFloodError):
        return one_line(str(error), 2000), error.exit_code, False
    if isinstance(error, KeyboardInterrupt):
        return f"{prefix}interrupted (Ctrl-C)", EXIT_INTERRUPTED, False
    if isinstance(error, Terminated):
        return f"{prefix}terminated (SIGTERM)", EXIT_TERMINATED, False
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or error.title
        return f"invalid {error.title} ({where}: {one_line(first['msg'])})", EXIT_INPUT, True
    if isinstance(error, OSError) and error.filename is not None:
        from gee_flood._io import describe_os_error

        return one_line(describe_os_error(error), 2000), EXIT_FAILURE, True
    return f"{prefix}{type(error).__name__}: {_message(error)}", EXIT_FAILURE, True


def _translated(error: SystemExit) -> BaseException | None:
    """Lightning turns Ctrl-C into ``sys.exit(1)`` and SIGTERM into a ``SystemExit`` with code 0: undo that."""
    if type(error).__name__ == "SIGTERMException":
        return Terminated()
    if isinstance(error.__context__, KeyboardInterrupt | Terminated):
        return error.__context__
    return None


@contextlib.contextmanager
def captured_warnings(seen: list[str], *, debug: Callable[[], bool]) -> Iterator[None]:
    """Print our warnings as ``warning:`` lines as they come; keep library warnings in ``seen`` (print if debug)."""

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, *_: Any) -> None:
        if issubclass(category, GeeFloodWarning):
            print(f"warning: {one_line(str(message), 2000)}", file=sys.stderr, flush=True)
            return
        line = f"{category.__name__}: {one_line(str(message))} ({filename}:{lineno})"
        seen.append(line)
        if debug():
            print(f"debug: {line}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.simplefilter("always", GeeFloodWarning)
        warnings.showwarning = show  # type: ignore[assignment]
        yield


def command_boundary(command: str, ctx: Any, body: Callable[[], T]) -> T:
    """Run ``body`` (a whole command) and turn any failure into one ``error:`` line and an exit code.

    Args:
        command: The command's name for the line, e.g. ``predict`` or ``train teacher``.
        ctx: The click context (for ``--debug``), or None.
        body: The command.

    Raises:
        typer.Exit: With the exit code of the failure (see the module's docstring).
    """
    seen: list[str] = []

    def debug() -> bool:  # asked when needed: the root's --debug is parsed inside ``body``
        return debug_requested(ctx)

    try:
        with captured_warnings(seen, debug=debug):
            return body()
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise  # the framework's own exits and usage errors (exit 2) are already one line
    except SystemExit as error:
        translated = _translated(error)
        if translated is None:
            raise
        return _fail(command, translated, seen, debug())
    except BaseException as error:  # noqa: BLE001 - the last resort: nothing may leak past this line
        return _fail(command, error, seen, debug())


def _fail(command: str, error: BaseException, seen: list[str], debug: bool) -> Any:
    line, code, log = _describe(command, error)
    if log:
        path = write_failure_log(command, error, seen)
        if path is not None:
            line += f" (details: {path})"
    if debug:
        with contextlib.suppress(RecursionError):
            traceback.print_exception(error, limit=-60, file=sys.stderr)
    elif log:
        line += "; rerun with --debug for the traceback" if len(line) < 400 else ""
    typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code) from None


def command_name(group: typer.core.TyperGroup, ctx: Any, args: list[str]) -> str:
    """Return the command path ``args`` selects under ``group`` (``predict``, ``train teacher``), best effort."""
    names: list[str] = []
    current: Any = group
    for arg in args:
        if not isinstance(current, typer.core.TyperGroup):
            break
        if arg.startswith("-"):
            continue
        current = current.get_command(ctx, arg)
        if current is None:
            break
        names.append(arg)
    return " ".join(names)


def usage_line(error: typer.TyperException, fallback_command: str = "") -> str | None:
    """One ``error:`` line for a command-line usage error (unknown option, invalid value, missing argument).

    Args:
        error: The usage error Click raised.
        fallback_command: The command's words (``train student``), for errors raised without a context.

    Returns:
        The line, or None for an exception that is not a usage error and for the bare group (``gee-flood train``),
        whose usage error shows the group's help, as Click does.

    Click prints three lines (usage, a ``Try ... --help`` hint, ``Error: ...``); the boundary's rule is one line, so
    the hint is folded into it: ``error: predict: No such option: --bogus (see 'gee-flood predict --help')``.
    """
    if type(error).__name__ == "NoArgsIsHelpError" or not hasattr(error, "format_message"):
        return None
    ctx = getattr(error, "ctx", None)
    command = ctx.command_path.partition(" ")[2] if ctx is not None else fallback_command
    prefix = f"{command}: " if command else ""
    hint = f" (see '{' '.join(['gee-flood', *command.split()])} --help')"
    return f"error: {prefix}{one_line(error.format_message(), 2000)}{hint}"


class BoundaryGroup(typer.core.TyperGroup):
    """The root group of ``gee-flood``: every sub-command runs inside :func:`command_boundary`.

    Usage errors (raised while parsing, before or around the boundary) print one line too (:func:`usage_line`).
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def run() -> Any:
            return super(BoundaryGroup, self).main(
                args, prog_name, complete_var, False, windows_expand_args=windows_expand_args, **extra
            )

        if not standalone_mode:
            return run()
        try:
            result = run()
        except typer.TyperException as error:
            words = list(args if args is not None else sys.argv[1:])
            line = usage_line(error, command_name(self, None, [str(word) for word in words]))
            if line is None:
                error.show()  # type: ignore[attr-defined]  # the bare group's help
            else:
                typer.echo(line, err=True)
            sys.exit(getattr(error, "exit_code", EXIT_INPUT))
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(EXIT_FAILURE)
        # Without standalone mode, a command's ``typer.Exit(code)`` (and --help's exit 0) comes back as the code;
        # the commands themselves return None.
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        args = [*getattr(ctx, "_protected_args", []), *ctx.args]
        command = command_name(self, ctx, args)
        return command_boundary(command, ctx, lambda: super(BoundaryGroup, self).invoke(ctx))
