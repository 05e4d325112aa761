"""Settings, their documented defaults, and where they come from.

A configuration file (``gsatellite.conf``) holds ``key = value`` lines;
``#`` starts a comment, ``[section]`` headers are allowed and ignored.  Files
are read in the classic search order of :func:`config_dirs`; a later
file overrides an earlier one.  An environment variable ``GSAT_<KEY>``
(upper case) overrides every file.  ``etc/gsatellite.conf`` documents every
key; :data:`DEFAULTS` is the single source of the default values.

The parser is hand-written on purpose: ``configparser`` pulls in ``re`` and
costs client start-up time on every ``gqsub``.

It builds only on :mod:`roots`: :mod:`paths` asks this module for the
``hostname`` setting, so importing :mod:`paths` here would close a circle.
"""

import os
import sys

from . import roots

CONFIG_NAME = "gsatellite.conf"

DEFAULTS = {
    # Host name used for message boxes and job.execHost (empty: resolve).
    "hostname": "",
    # How processes of one host talk: file (message boxes) or sysv (System V
    # message queues; other hosts and classic clients still use boxes).
    "transport": "file",
    # Scheduler plug-in: fifo (one at a time) or nobatch (all at once).
    "scheduler": "fifo",
    # Seconds a client waits for an answer before giving up.
    "answer_timeout": "60",
    # Seconds between refreshes of gsatlcPid (liveness rule: must be < 5).
    "liveness_interval": "2",
    # Seconds the signal forwarder sleeps between looks into its box.
    "sigfwd_poll": "0.5",
    # Seconds between safety wake-ups of a sputnik.
    "sputnik_wakeup": "10",
    # Seconds the controller waits for a sputnik's answer (gqhold, gqsig).
    "sputnik_timeout": "30",
    # Largest job script gqsub accepts, in bytes (16 MiB).
    "max_job_size": "16777216",
    # Automatic restarts a job type may ask for before the job fails.
    "max_restarts": "3",
    # Largest message a daemon accepts, in bytes.
    "max_message_size": "65536",
    # Slots of the fifo scheduler: how many jobs run at once.
    "slots": "1",
    # Mail: SMTP server, or a sendmail-like command (used when set; the
    # recipients are appended to it and the message is given on stdin).
    "smtp_host": "localhost",
    "smtp_port": "25",
    "mail_timeout": "30",
    "sendmail": "",
    # Sender address (empty: LOGIN@HOST).
    "mail_from": "",
    # Largest tarball mailJobTarball attaches, in bytes.
    "mail_tarball_limit": "10485760",
    # The shipped mail service linked into the install tree's onJOB_START and
    # onJOB_TERMINATION directories (the classic default): yes or no.
    "mail_service": "yes",
}

_VALUES = None


class ConfigError(Exception):
    pass


def _parse(path, into):
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    except OSError as e:
        raise ConfigError("configuration file %s cannot be read: %s" % (path, e.strerror))
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line[0] in "#;" or (line[0] == "[" and line[-1] == "]"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError("%s:%d: expected 'key = value'" % (path, n))
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        into[key.strip().lower()] = value


def config_dirs():
    """Configuration directories in the classic search order.

    Files found later override settings of files found earlier, so the user's
    ``$HOME/.gsatellite`` has the last word.
    """
    return (
        "/etc/gsatellite",
        "/etc/opt/gsatellite",
        os.path.join(roots.tree(), "etc"),
        os.path.join(sys.prefix, "etc", "gsatellite"),
        roots.base(),
    )


def load():
    values = dict(DEFAULTS)
    for d in config_dirs():
        _parse(os.path.join(d, CONFIG_NAME), values)
    return values


def _values():
    global _VALUES
    if _VALUES is None:
        _VALUES = load()
    return _VALUES


def reset():
    global _VALUES
    _VALUES = None


def get(key):
    env = os.environ.get("GSAT_" + key.upper())
    if env is not None:
        return env
    return _values().get(key, DEFAULTS.get(key, ""))


def is_set(key):
    """True when ``key`` is given by ``GSAT_<KEY>`` or a configuration file
    (its default alone does not count)."""
    if os.environ.get("GSAT_" + key.upper()) is not None:
        return True
    found = {}
    for d in config_dirs():
        _parse(os.path.join(d, CONFIG_NAME), found)
    return key in found


def get_bool(key):
    raw = get(key).strip().lower()
    if raw in ("yes", "true", "on", "1"):
        return True
    if raw in ("no", "false", "off", "0"):
        return False
    raise ConfigError("setting %s=%r is not yes or no" % (key, raw))


def get_float(key):
    raw = get(key)
    try:
        return float(raw)
    except ValueError:
        raise ConfigError("setting %s=%r is not a number" % (key, raw))


def get_int(key):
    raw = get(key)
    try:
        return int(raw)
    except ValueError:
        raise ConfigError("setting %s=%r is not a whole number" % (key, raw))
