"""gtransfer transfers: hold with SIGINT (gt cleans up on it), restart on EX_TEMPFAIL."""

import signal

from .. import paths
from ..protocol import RESTART, TERMINATE

HOLD_SIGNAL = signal.SIGINT
EX_TEMPFAIL = 75
# A transfer lost with its host is queued again (gt resumes transfers), as
# one that ends with EX_TEMPFAIL is restarted.
RERUN_ON_HOST_LOSS = True


def evaluate(exit_value):
    return RESTART if exit_value == EX_TEMPFAIL else TERMINATE


def environment():
    return {"X509_USER_PROXY": paths.proxy_credential()}
