"""Settings, their documented defaults, and where they come from.

A configuration file (``gsatellite.conf``) holds ``key = value`` lines;
``#`` starts a comment, ``[section]`` headers are allowed and ignored.  Files
are read in the classic search order of :func:`config_dirs`; a later
file overrides an earlier one.  An environment variable ``GSAT_<KEY>``
(upper case) overrides every file.  ``etc/gsatellite.conf`` documents every
key; :data:`DEFAULTS` is the single source of the default values.

Every key is checked by :data:`VALIDATORS` (one validator per key of
:data:`DEFAULTS`) when it is read, and all of them by :func:`check_all` when
the controller starts; a bad value is a :class:`ConfigError` whose message
begins with the key (``slots: must be a whole number >= 1, not '0' (set in
FILE)``), which commands print as ``PROG: configuration: MESSAGE`` and exit
70.

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
    # Seconds a host may stay silent (no heartbeat) before it counts as
    # lost: its jobs fail (or run again), its waiters' notices are dropped.
    "host_lost_after": "120",
    # Seconds between safety wake-ups of a sputnik.
    "sputnik_wakeup": "10",
    # Seconds the controller waits for a sputnik's answer (gqhold, gqsig).
    "sputnik_timeout": "30",
    # Seconds a held job may take to stop after its hold signal before its
    # process group gets SIGKILL; it keeps its slot until it has stopped.
    "hold_grace": "30",
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
    # gsatmail: the oldest Date: (and signing time) accepted, in seconds;
    # the largest message, in bytes; whether replies are encrypted.
    "mail_max_age": "86400",
    "mail_max_size": "1048576",
    "mail_encrypt": "yes",
    # Small-file stage in / out (gqsub -i / -O): the largest file, and the
    # most all files of one job may hold together, in bytes.
    "stage_limit": "16777216",
    "stage_job_limit": "67108864",
    # Proxy expiry (X509_USER_PROXY of a job): seconds before the proxy's
    # end that PROXY_EXPIRING fires; a queued job whose proxy ends within
    # proxy_margin seconds is held instead of started, and the proxy file
    # is read again every proxy_recheck seconds while a job is held for it.
    "proxy_warning": "3600",
    "proxy_margin": "300",
    "proxy_recheck": "60",
}

_VALUES = None
# key -> the file that set it (the last one read)
_ORIGIN = {}
# key -> checked value, for the raw text it was checked from
_CHECKED = {}

# The liveness rule (docs/protocol.md section 10): a client treats a
# gsatlcPid older than this many seconds as a dead controller.
LIVENESS_MAX_AGE = 5
# The smallest message size the protocol needs: a QSUB carrying a job path
# of PATH_MAX bytes and gqsub's options, with its answer box.
MIN_MESSAGE_SIZE = 16384
# Shortest interval of a periodic wake-up (liveness_interval, sigfwd_poll,
# sputnik_wakeup), in seconds: below it a daemon does little but wake up
# (a millionth of a second kept a sputnik at two thirds of a core).
MIN_PERIOD = 0.05
# Longest time setting, in seconds (a year): beyond it sleeping and
# deadline arithmetic stop being meaningful.
MAX_SECONDS = 365 * 86400


class ConfigError(Exception):
    pass


# -- validators: raw text -> value, or ValueError with the reason ------------------

def _number(low, high=MAX_SECONDS, low_open=True, high_open=False):
    def check(raw):
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number of seconds")
        if not (low < value if low_open else low <= value) or not (value < high if high_open else value <= high):
            raise ValueError("must be %s %s and %s %s seconds" % (">" if low_open else ">=", low,
                                                                  "<" if high_open else "<=", high))
        return value
    return check


def _whole(low, high=None):
    def check(raw):
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("must be a whole number")
        if value < low or (high is not None and value > high):
            raise ValueError("must be a whole number >= %d%s" % (low, "" if high is None else " and <= %d" % high))
        return value
    return check


def valid_hostname(name):
    """True for a host name: dot-separated labels of 1 to 63 letters, digits,
    ``-`` and ``_``, not starting or ending with ``-``, 253 bytes at most."""
    if not name or len(name) > 253 or not name.isascii():
        return False
    for label in name.split("."):
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not label.replace("-", "").replace("_", "").isalnum():
            return False
    return True


def _hostname(raw):
    if raw and not valid_hostname(raw):
        raise ValueError("must be a host name (letters, digits, '-', '_' and dots)")
    return raw


def _mail_host(raw):
    if ":" in raw and raw.strip("[]").replace(":", "").replace(".", "").isalnum():
        return raw  # an IPv6 address
    if not raw:
        raise ValueError("must be a host name")
    return _hostname(raw)


def _plugin(package):
    def check(raw):
        # Listed, not imported: the plug-ins live above this module.
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), package)
        try:
            known = sorted(n[:-3] for n in os.listdir(here) if n.endswith(".py") and not n.startswith("_"))
        except OSError:
            known = []
        if raw not in known:
            raise ValueError("unknown %s (known: %s)" % (package, ", ".join(known)))
        return raw
    return check


def _choice(*values):
    def check(raw):
        if raw not in values:
            raise ValueError("must be one of %s" % ", ".join(values))
        return raw
    return check


_BOOLEANS = {"yes": True, "true": True, "on": True, "1": True,
             "no": False, "false": False, "off": False, "0": False}


def _bool(raw):
    value = _BOOLEANS.get(raw.strip().lower())
    if value is None:
        raise ValueError("must be yes or no")
    return value


def _one_line(raw):
    if "\n" in raw or "\r" in raw or "\0" in raw:
        raise ValueError("must be one line")
    return raw


VALIDATORS = {
    "hostname": _hostname,
    "scheduler": _plugin("scheduler"),
    "answer_timeout": _number(0),
    "liveness_interval": _number(MIN_PERIOD, LIVENESS_MAX_AGE, low_open=False, high_open=True),
    "sigfwd_poll": _number(MIN_PERIOD, LIVENESS_MAX_AGE, low_open=False),
    "host_lost_after": _number(LIVENESS_MAX_AGE),
    "sputnik_wakeup": _number(MIN_PERIOD, low_open=False),
    "sputnik_timeout": _number(0),
    "hold_grace": _number(0),
    "max_job_size": _whole(1),
    "max_restarts": _whole(0),
    "max_message_size": _whole(MIN_MESSAGE_SIZE),
    "slots": _whole(1),
    "smtp_host": _mail_host,
    "smtp_port": _whole(1, 65535),
    "mail_timeout": _number(0),
    "sendmail": _one_line,
    "mail_from": _one_line,
    "mail_tarball_limit": _whole(0),
    "mail_service": _bool,
    "transport": _choice("file", "sysv"),
    "mail_max_age": _number(0),
    "mail_max_size": _whole(1),
    "mail_encrypt": _bool,
    "stage_limit": _whole(1),
    "stage_job_limit": _whole(1),
    "proxy_warning": _number(0, low_open=False),
    "proxy_margin": _number(0, low_open=False),
    "proxy_recheck": _number(0.1, low_open=False),
}


def _read_whole(path):
    """The bytes of the regular file ``path``; OSError for anything else.
    Never blocks: a FIFO in the configuration's place is an error, not a
    command that hangs at its start."""
    from .fsutil import open_regular

    fd = open_regular(path)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def _parse(path, into):
    try:
        data = _read_whole(path)
    except (FileNotFoundError, NotADirectoryError):
        # No file; a directory in the path that is a file (a broken $HOME
        # layout) is for the command to report, not the configuration.
        return
    except OSError as e:
        raise ConfigError("configuration file %s cannot be read: %s" % (path, e.strerror))
    lines = data.decode("utf-8", "surrogateescape").splitlines()
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
        _ORIGIN[key.strip().lower()] = path


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
    _ORIGIN.clear()
    _CHECKED.clear()


def _raw(key):
    env = os.environ.get("GSAT_" + key.upper())
    if env is not None:
        return env, "GSAT_" + key.upper()
    values = _values()
    if key in values:
        return values[key], _ORIGIN.get(key)
    return DEFAULTS.get(key, ""), None


def value(key):
    """The checked value of setting ``key`` (a str, float, int or bool, as
    its validator makes it); :class:`ConfigError` naming the key."""
    raw, origin = _raw(key)
    cached = _CHECKED.get(key)
    if cached is not None and cached[0] == raw:
        return cached[1]
    validator = VALIDATORS.get(key)
    checked = raw
    if validator is not None:
        try:
            checked = validator(raw.strip())
        except ValueError as e:
            where = " (set in %s)" % origin if origin else ""
            raise ConfigError("%s: %s, not %r%s" % (key, e, raw, where))
    _CHECKED[key] = (raw, checked)
    return checked


def check_all():
    """Check every setting; :class:`ConfigError` for the first bad one."""
    for key in DEFAULTS:
        value(key)


def get(key):
    """The text of setting ``key``, checked."""
    value(key)
    return _raw(key)[0].strip() if key in VALIDATORS else _raw(key)[0]


def is_set(key):
    """True when ``key`` is given by ``GSAT_<KEY>`` or a configuration file
    (its default alone does not count)."""
    if os.environ.get("GSAT_" + key.upper()) is not None:
        return True
    # The files as loaded for every other setting (read once per process,
    # as get() reads them): the controller asks this at every job start
    # and end.
    _values()
    return key in _ORIGIN


def get_bool(key):
    return _bool(get(key))


def get_float(key):
    return float(value(key))


def get_int(key):
    checked = value(key)
    if isinstance(checked, int):
        return checked
    try:
        return int(checked)
    except ValueError:
        raise ConfigError("%s: must be a whole number, not %r" % (key, checked))

