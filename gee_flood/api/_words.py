"""Python errors in Python words: the messages the CLI and the API share, with the API's argument names.

The pipeline below the API raises one-line :class:`~gee_flood.errors.GeeFloodError` s that name command-line
options (``--threshold 1.5: ...``, ``pass --overwrite``), because the CLI is where most of them are met. Every public
API function is wrapped by :func:`python_words`, which rewrites those names as its keyword arguments
(``threshold=1.5: ...``, ``pass overwrite=True``) in the exception it re-raises (same class, same traceback).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from gee_flood.errors import GeeFloodError

P = ParamSpec("P")
R = TypeVar("R")

#: CLI options whose API argument has another name.
RENAMED = {"input": "scene", "out": "path", "mask": "flood"}
#: CLI switches (no value): ``pass --overwrite`` is ``pass overwrite=True``.
SWITCHES = {"overwrite", "create-parents", "allow-large", "cog-backed"}

_OPTION_WITH_VALUE = re.compile(r"--([a-z][a-z0-9-]*) (\S+?):(\s|$)")
_SWITCH = re.compile(r"--(" + "|".join(sorted(SWITCHES)) + r")\b")
_OPTION = re.compile(r"--([a-z][a-z0-9-]*)")


def _argument(option: str) -> str:
    return RENAMED.get(option, option).replace("-", "_")


def in_python_words(message: str) -> str:
    """``message`` with command-line options written as the API's keyword arguments."""
    message = _OPTION_WITH_VALUE.sub(lambda m: f"{_argument(m.group(1))}={m.group(2)}:{m.group(3)}", message)
    message = _SWITCH.sub(lambda m: f"{_argument(m.group(1))}=True", message)
    return _OPTION.sub(lambda m: f"{_argument(m.group(1))}=", message)


def python_words(function: Callable[P, R]) -> Callable[P, R]:
    """Re-raise the :class:`GeeFloodError` s of ``function`` in Python words (:func:`in_python_words`)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except GeeFloodError as error:
            if error.args and isinstance(error.args[0], str):
                error.args = (in_python_words(error.args[0]), *error.args[1:])
            raise

    return wrapper
