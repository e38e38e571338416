"""Clean stops on Ctrl-C: long runs check a flag between chunks and keep what they have."""

from __future__ import annotations

import signal
import threading


class Interrupts:
    """Turn the first Ctrl-C into a flag checked between chunks of work; a second one aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):  # noqa: ARG002
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
