"""Clean stops on Ctrl-C and SIGTERM: long runs check a flag between chunks of work and keep what they have.

SIGTERM is what a batch scheduler sends at its time limit; it is treated like a first Ctrl-C. The signal that
stopped a run is kept (``signal``), so the command line can exit with 128 + its number (130, 143).
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """Turn the first Ctrl-C or SIGTERM into a flag checked between chunks of work; a second one aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame):  # noqa: ARG002
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signal = signum

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
