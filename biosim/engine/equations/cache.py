"""The analysis cache of equation-defined models: Brian2's analysis of a text, stored as JSON under a hash of the
text and of the code that analyses it, so a later process reads the result without importing Brian2."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol, TypeVar


class Analysed(Protocol):
    def to_json(self) -> dict[str, Any]: ...


Code = TypeVar("Code", bound=Analysed)


def cached_analysis(prefix: str, parts: list[Any], analyse: Callable[[], Code],
                    from_json: Callable[[dict[str, Any]], Code], sources: tuple[Path, ...]) -> Code:
    """``analyse()``'s result for the text ``parts`` (JSON-serialisable), from the cache when it was analysed
    before by the same ``sources`` (the analysing and generating modules) and the same Brian2."""
    from biosim.engine.codegen import cache_dir

    digest = hashlib.sha256(version("brian2").encode())
    for source in sources:
        digest.update(source.read_bytes())
    key = hashlib.sha256(json.dumps([parts, digest.hexdigest()]).encode()).hexdigest()[:20]
    path = cache_dir() / f"{prefix}_{key}.json"
    if path.exists():
        return from_json(json.loads(path.read_text()))
    code = analyse()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(code.to_json()))
    tmp.replace(path)
    return code
