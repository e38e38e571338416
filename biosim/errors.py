"""User-facing configuration errors that name the file, the key, the allowed values and a guess."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` when a close match exists, else ``""``."""
    matches = difflib.get_close_matches(str(word), list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


class ConfigError(ValueError):
    """Invalid experiment description, raised before any compute. It names where the mistake is: ``file`` and
    ``line``, or the command-line ``argument`` that set the key."""

    def __init__(self, message: str, *, key: str = "", file: str = "", line: int | None = None, argument: str = ""):
        self.key, self.file, self.line, self.argument = key, file, line, argument
        where = f"argument {argument!r}" if argument else file + (f":{line}" if line else "") if file else ""
        prefix = ": ".join(part for part in (where, key) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class KeyedValueError(ValueError):
    """A parameter object's error about one of its keys (``loc``, a tuple below the object), raised by a validator
    that checks several keys together; the experiment's error then names that key and its line."""

    def __init__(self, message: str, loc: tuple = ()):
        self.loc = loc
        super().__init__(message)


def unknown_choice(kind: str, name: str, allowed: Iterable[str], *, key: str = "") -> ConfigError:
    allowed = sorted(allowed)
    return ConfigError(
        f"unknown {kind} {name!r}{did_you_mean(name, allowed)}; allowed: {', '.join(allowed)}", key=key
    )
