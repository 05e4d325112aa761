"""Autostart of the controller from cron, and where the installed data files are.

``gsatlcd --install-cron`` adds two lines to the user's crontab: an
``@reboot`` line and a periodic one, both running ``gsatlcd --start``, which
does nothing when a controller already answers (on any host sharing
``$HOME``), so the periodic line is a "start if not running".  Every line we
write ends with :data:`MARK`; ``--remove-cron`` removes exactly those lines
and keeps every other line of the table as it was.  Installing twice leaves
one copy.

Invariant: the table is never written when reading it failed (a crontab
that cannot be read is not an empty one), so a broken ``crontab`` command
can never wipe the user's own entries.

``gsatlcd --paths`` prints where the commands, services, configuration files,
man pages, completion scripts and the systemd unit of this installation are.

Imported only for these options, so the heavy imports here cost nothing to
the usual commands.
"""

import os
import shlex
import shutil
import subprocess
import sys

from . import config, paths

MARK = "# gsatellite autostart"
OPTIONS = ("--install-cron", "--remove-cron", "--paths")
# Minutes between "start if not running" attempts.
DEFAULT_INTERVAL = 10
EX_FAIL = 1
EX_UNAVAILABLE = 69


class CrontabError(Exception):
    pass


def autostart_log():
    return os.path.join(paths.log_dir(), "autostart.log")


def start_command(gsatlcd=None, python=None):
    """The shell command cron runs: this interpreter, this gsatlcd, --start.

    cron's PATH is minimal, so both the interpreter and the script are named
    by absolute path; the output goes to a log instead of cron mail.
    """
    gsatlcd = gsatlcd or paths.bin_path("gsatlcd")
    python = python or sys.executable
    return "%s %s --start >>%s 2>&1" % (
        shlex.quote(python), shlex.quote(gsatlcd), shlex.quote(autostart_log()))


def cron_lines(command=None, interval=DEFAULT_INTERVAL):
    command = command or start_command()
    return [
        "@reboot %s %s" % (command, MARK),
        "*/%d * * * * %s %s" % (interval, command, MARK),
    ]


def is_ours(line):
    return line.rstrip().endswith(MARK)


def without_ours(table):
    """The crontab text with our lines removed, every other line kept."""
    return "".join(line for line in table.splitlines(True) if not is_ours(line))


def with_ours(table, lines):
    kept = without_ours(table)
    if kept and not kept.endswith("\n"):
        kept += "\n"
    return kept + "".join(line + "\n" for line in lines)


def _crontab():
    found = shutil.which("crontab")
    if found is None:
        raise CrontabError("crontab not found; use the systemd unit instead (see gsatellite(7))")
    return found


def read_table():
    p = subprocess.run([_crontab(), "-l"], capture_output=True, text=True)
    if p.returncode == 0:
        return p.stdout
    # cron implementations say "no crontab for USER" and exit 1 when the
    # user has none; anything else is an error we must not overwrite.
    if "no crontab" in p.stderr.lower():
        return ""
    raise CrontabError("crontab -l failed (%d): %s" % (p.returncode, p.stderr.strip() or "no message"))


def write_table(text):
    p = subprocess.run([_crontab(), "-"], input=text, capture_output=True, text=True)
    if p.returncode != 0:
        raise CrontabError("crontab - failed (%d): %s" % (p.returncode, p.stderr.strip() or "no message"))


def install_cron():
    os.makedirs(paths.log_dir(), mode=0o700, exist_ok=True)
    write_table(with_ours(read_table(), cron_lines()))


def remove_cron():
    table = read_table()
    kept = without_ours(table)
    if kept != table:
        write_table(kept)


def share_dir():
    """``share/`` of a checkout, else of the installation prefix."""
    for d in (os.path.join(paths.tree(), "share"), os.path.join(sys.prefix, "share")):
        if os.path.isdir(os.path.join(d, "man", "man1")):
            return d
    return os.path.join(sys.prefix, "share")


def data_paths():
    """``[(what, path)]`` of this installation, for ``gsatlcd --paths``."""
    share = share_dir()
    checkout = share == os.path.join(paths.tree(), "share")
    return [
        ("commands", paths.bin_dir()),
        ("libexec", paths.libexec_dir()),
        ("services", os.path.join(paths.libexec_dir(), "services")),
        ("user services", os.path.join(paths.base(), "services")),
        ("config", " ".join(os.path.join(d, config.CONFIG_NAME) for d in config.config_dirs())),
        ("man", os.path.join(share, "man")),
        ("bash completion", os.path.join(share, "completion" if checkout else "bash-completion/completions",
                                         "gsatellite.bash")),
        ("zsh completion", os.path.join(share, "completion" if checkout else "zsh/site-functions",
                                        "_gsatellite")),
        ("systemd unit", os.path.join(share, "systemd" if checkout else "systemd/user", "gsatellite.service")),
        ("examples", os.path.join(share, "doc", "examples" if checkout else "gsatellite/examples")),
    ]


def main(prog, argv):
    """``gsatlcd --install-cron|--remove-cron|--paths``; returns the exit code."""
    if len(argv) != 1 or argv[0] not in OPTIONS:
        sys.stderr.write("usage: %s {--install-cron|--remove-cron|--paths}\n" % prog)
        return EX_FAIL
    if argv[0] == "--paths":
        for what, where in data_paths():
            sys.stdout.write('%s="%s"\n' % (what.replace(" ", "_"), where))
        return 0
    try:
        if argv[0] == "--install-cron":
            install_cron()
        else:
            remove_cron()
    except CrontabError as e:
        sys.stderr.write("%s: %s\n" % (prog, e))
        return EX_UNAVAILABLE
    except OSError as e:
        sys.stderr.write("%s: %s\n" % (prog, e))
        return EX_FAIL
    return 0
