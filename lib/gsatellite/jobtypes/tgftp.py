"""tgftp transfers: hold with SIGTERM, never restart, GSI proxy in the environment."""

import signal

from .. import paths
from ..protocol import TERMINATE

HOLD_SIGNAL = signal.SIGTERM


def evaluate(exit_value):
    return TERMINATE


def environment():
    return {"X509_USER_PROXY": paths.proxy_credential()}
