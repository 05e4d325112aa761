"""gsatmail [--maildir DIR] | --init: the command (gsatmail(1), docs/email.md).

Exit values: 0 every message was accepted and answered, or rejected (and
removed); 75 (EX_TEMPFAIL) a message is kept for another try, or the
setup under ``G/mail`` is incomplete or unsafe (a mail delivery agent then
keeps the message and delivers it again); 64 usage; 66 no ``DIR/new``;
78 ``--init`` could not complete the setup.
"""

import os
import sys
import time

from .. import __version__, config, paths
from ..fsutil import append_line, read_bytes
from . import EX_CONFIG, EX_TEMPFAIL, EX_USAGE, Rejected, SetupError, TempFail, keyring
from .process import Processor

EX_NOINPUT = 66
ACCEPTED, REJECTED, KEPT = "accepted", "rejected", "kept"

USAGE = "Usage: gsatmail [--maildir DIR] < message\n   or: gsatmail --init\n"
HELP = """gsatmail v%s

SYNOPSIS:
gsatmail [--maildir DIR]
gsatmail --init

DESCRIPTION:
gsatmail accepts jobs and job commands by S/MIME-signed email: one message
on standard input (from .forward or procmail), or with --maildir every
message in DIR/new, each moved to DIR/cur when done.  Replies are signed
with G/mail/host.pem and encrypted to the sender.

OPTIONS:
[--maildir DIR]         Process every message in DIR/new.
[--init]                Create G/mail and tell what is still missing.
[-V, --version]         Display version information and exit.
[--help]                Display this help and exit.
"""


def log(line):
    try:
        os.makedirs(paths.log_dir(), mode=0o700, exist_ok=True)
        append_line(paths.gsatmail_log(),
                    "%s gsatmail[%d]: %s" % (time.strftime("%Y-%m-%dT%H:%M:%S%z"), os.getpid(), line))
    except OSError:
        pass


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


def _main(argv):
    maildir = None
    if argv == ["--help"]:
        sys.stdout.write(HELP % __version__)
        return 0
    if argv in (["-V"], ["--version"]):
        sys.stdout.write("gsatmail v%s\n" % __version__)
        return 0
    if argv == ["--init"]:
        return _init()
    if len(argv) == 2 and argv[0] == "--maildir":
        maildir = argv[1]
    elif argv:
        sys.stderr.write(USAGE)
        return EX_USAGE
    if maildir is not None and not os.path.isdir(os.path.join(maildir, "new")):
        sys.stderr.write("gsatmail: %s is not a Maildir (no new/)\n" % maildir)
        return EX_NOINPUT
    try:
        keyring.check()
        processor = Processor(log)
    except (SetupError, config.ConfigError, OSError) as e:
        # The message stays with the delivery agent until the setup is fixed.
        text = str(e) if not isinstance(e, OSError) else "%s: %s" % (getattr(e, "filename", ""), e.strerror)
        log("setup: %s; message(s) kept" % text)
        sys.stderr.write("gsatmail: %s\n" % text)
        return EX_TEMPFAIL
    try:
        if maildir is None:
            return EX_TEMPFAIL if _one(processor, _stdin()) == KEPT else 0
        return _maildir(processor, maildir)
    finally:
        processor.close()


def _init():
    try:
        complete = keyring.init(sys.stdout)
    except OSError as e:
        sys.stderr.write("gsatmail: %s: %s\n" % (e.filename, e.strerror))
        return EX_CONFIG
    if complete:
        try:
            keyring.check()
        except SetupError as e:
            sys.stderr.write("gsatmail: %s\n" % e)
            return EX_CONFIG
        sys.stdout.write("%s is ready.\n" % keyring.mail_dir())
        return 0
    return EX_CONFIG


def _limit():
    return config.get_int("mail_max_size")


def _stdin():
    """The message, or None when it is over the size limit (the rest is
    read and dropped, so the delivery agent sees it taken)."""
    stream = sys.stdin.buffer
    data = stream.read(_limit() + 1)
    if len(data) > _limit():
        while stream.read(1 << 16):
            pass
        return None
    return data


def _one(processor, raw, where="stdin"):
    try:
        if raw is None:
            raise Rejected("message is more than mail_max_size (%d) bytes" % _limit())
        processor.process(raw)
        return ACCEPTED
    except Rejected as e:
        log("%s: rejected, removed without reply: %s" % (where, e.reason))
        return REJECTED
    except TempFail as e:
        log("%s: kept for another try: %s" % (where, e))
        return KEPT
    except (SetupError, config.ConfigError) as e:
        log("%s: kept for another try: setup: %s" % (where, e))
        return KEPT
    except OSError as e:
        log("%s: kept for another try: %s" % (where, e))
        return KEPT
    except Exception:
        # A bug: the message is kept (nothing is lost), the traceback logged.
        import traceback

        log("%s: kept for another try: internal error:\n%s" % (where, traceback.format_exc()))
        sys.stderr.write("gsatmail: internal error; see %s\n" % paths.gsatmail_log())
        return KEPT


def _maildir(processor, maildir):
    new, cur = os.path.join(maildir, "new"), os.path.join(maildir, "cur")
    os.makedirs(cur, mode=0o700, exist_ok=True)
    kept = 0
    for name in sorted(os.listdir(new)):
        if name.startswith("."):
            continue
        path = os.path.join(new, name)
        # Non-blocking, regular files only: a FIFO or a directory in new/
        # is no message (it hung us, or ended us with a traceback).
        raw = read_bytes(path, None, _limit() + 1)
        if raw is None:
            if os.path.lexists(path):
                sys.stderr.write("gsatmail: %s is not a readable regular file; skipped\n" % path)
            continue  # else another gsatmail took it
        outcome = _one(processor, raw if len(raw) <= _limit() else None, "%s/new/%s" % (maildir, name))
        try:
            if outcome == ACCEPTED:
                os.rename(path, os.path.join(cur, name if ":2," in name else name + ":2,S"))
            elif outcome == REJECTED:
                os.unlink(path)
        except FileNotFoundError:
            pass
        if outcome == KEPT:
            kept += 1
    return EX_TEMPFAIL if kept else 0
