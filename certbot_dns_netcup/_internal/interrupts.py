"""Holding interrupts until a step that must not be cut short is done.

Creating records (the ledger and the journal must learn what netcup did) and
removing them (a second Ctrl-C must not leave records behind) run inside
``interrupts_deferred()``.  SIGINT, SIGTERM and SIGHUP that arrive during the
step are remembered; when the step is over the previous handlers are put back
and each signal is delivered again, once (SIGINT last), so it is
handled exactly as it would have been without us: SIGINT raises
KeyboardInterrupt (Python's handler), SIGTERM and SIGHUP reach whatever handler
was installed before (inside Certbot, its ErrorHandler, which runs cleanup and
then lets the signal take its default action) or take the default action.

Only the main thread can set signal handlers: elsewhere the step runs unprotected.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional

logger = logging.getLogger(__name__)

SIGNAL_NAMES: dict[int, str] = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}
if hasattr(signal, "SIGHUP"):
    SIGNAL_NAMES[signal.SIGHUP] = "SIGHUP"


def signal_name(signum: int) -> str:
    return SIGNAL_NAMES.get(signum, f"signal {signum}")


@contextmanager
def interrupts_deferred(on_deferred: Optional[Callable[[int], None]] = None) -> Iterator[None]:
    """Run the block with SIGINT, SIGTERM and SIGHUP held; deliver those that came once it is done.

    ``on_deferred(signum)`` is called (from the signal handler, in the main thread) the first time
    each signal arrives, e.g. to tell the user that the step finishes first.  Signals that are
    ignored (SIG_IGN) or whose handler was not set from Python are left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        if signum in received:
            return
        received.append(signum)
        logger.debug("%s received: deferred until the current step is done", signal_name(signum))
        if on_deferred is not None:
            try:
                on_deferred(signum)
            except Exception:  # telling the user must never break the step it protects
                logger.debug("could not report the deferred signal", exc_info=True)

    previous: dict[int, Any] = {}
    try:
        for signum in SIGNAL_NAMES:
            handler = signal.getsignal(signum)
            if handler is None or handler == signal.SIG_IGN:
                continue
            previous[signum] = signal.signal(signum, hold)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        # SIGTERM and SIGHUP first: KeyboardInterrupt would end the loop before them.
        for signum in sorted(received, key=lambda s: s == signal.SIGINT):
            logger.debug("delivering the deferred %s", signal_name(signum))
            # The handler runs inside raise_signal (CPython checks for signals before it returns):
            # KeyboardInterrupt for SIGINT, Certbot's ErrorHandler or the default action for the others.
            signal.raise_signal(signum)
