"""The default job type: hold with SIGTERM, never restart."""

import signal

from ..protocol import TERMINATE

HOLD_SIGNAL = signal.SIGTERM


def evaluate(exit_value):
    return TERMINATE


def environment():
    return {}
