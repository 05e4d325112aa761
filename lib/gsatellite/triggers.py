"""User-defined events triggered from inside a job (docs/protocol.md §8).

``trigger NAME [ARG...]`` asks the job's sputnik (same host) with
``JOB_TRIGGER ID NAME ARGS`` (args percent-escaped, space separated;
``--wait`` becomes ``JOB_TRIGGER_WAIT``; ``TRIGGER`` and ``TRIGGER_WAIT``
without the id for a sputnik that does not know these verbs).  The sputnik records the event in ``job.events``
(``EPOCH NAME ARGS``, one line per event: control characters in ARGS,
newlines too, are escaped by :func:`event_line`) and runs the services of ``onNAME`` through
run-services with the job environment, ``GSAT_EVENT=NAME`` and
``GSAT_EVENT_ARGS`` (the arguments joined by single spaces).
"""

from .protocol import escape_controls, quote_word, unquote_word

# Spelled out: the string module imports re, a cost at every trigger call.
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
RESERVED = ("JOB_START", "JOB_TERMINATION", "JOB_ABORT", "STAGE_OUT_FAILED", "PROXY_EXPIRING")


def check_name(name):
    """None if ``name`` may be triggered, else the reason it may not."""
    if not name or len(name) > 64 or not set(name) <= NAME_CHARS:
        return "invalid event name %r (allowed: 1 to 64 of A-Z a-z 0-9 _)" % name
    if name in RESERVED:
        return "%s is one of gsatellite's own events and cannot be triggered" % name
    return None


def encode_args(args):
    return " ".join(quote_word(a) for a in args)


def decode_args(text):
    return [unquote_word(w) for w in text.split()]


def event_line(epoch, name, args):
    """The ``job.events`` record of one event: always one line, whatever
    its arguments hold (``GSAT_EVENT_ARGS`` gets them unescaped)."""
    return "%d %s %s" % (epoch, name, escape_controls(" ".join(args)))
