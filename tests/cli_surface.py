"""The user commands' option surface, as their own --help and usage show it.

Shared by the man page and completion tests, so that a new option in a
command fails both until it is documented and completable.
"""

import os
import re
import subprocess
import tempfile

from conftest import BIN, ROOT

# User commands with a man page of their own.
USER_COMMANDS = (
    "gsatctl", "gqsub", "gqstat", "gqhold", "gqrls", "gqdel", "gqsig", "gqwait",
    "gqpeek", "gqclean", "trigger", "gsatlcd", "sendcmd", "gsatmail",
)
# Shorthands of gsatctl: their --help is gsatctl's.
SHORTHANDS = ("gqsub", "gqhold", "gqrls", "gqdel", "gqwait")
# Daemons and internals started by the tools, documented in gsatellite(7).
INTERNAL = ("gsatlc", "sigfwd", "sigfwdd", "sputnik", "sputnikd", "sputnikRunJob")
MAN = os.path.join(ROOT, "share", "man")
PROBE = "--x-probe-usage"
_OPTION = re.compile(r"(?<![\w-])--?[A-Za-z][A-Za-z0-9-]*")


def options_in(text):
    return set(_OPTION.findall(text)) - {PROBE}


def listed_options(command):
    """Options that ``command --help`` and its usage message mention."""
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HOME=home, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        found = set()
        for arg in ("--help", PROBE):
            p = subprocess.run([command, arg], env=env, capture_output=True, text=True, timeout=30)
            assert "Traceback" not in p.stderr, p.stderr
            found |= options_in(p.stdout + p.stderr)
    return found


def page(name, section=1):
    return os.path.join(MAN, "man%d" % section, "%s.%d" % (name, section))


# mdoc macros that end the argument list of a preceding Fl.
_MACROS = set(
    "Ac Ad An Ao Aq Ar Bc Bo Bq Brc Bro Brq Cd Cm Dc Do Dq Dv Ec Em Eo Er Ev Fa Fl Fn Ic "
    "Li Ms Nm No Ns Oc Oo Op Pa Pc Pf Po Pq Qc Ql Qo Qq Sc So Sq Sx Sy Ta Tn Va Xc Xo Xr".split())
_DELIMITERS = set("|,.;:()[]")


def page_options(path):
    """Every option a mdoc page marks up with ``Fl``."""
    found = set()
    with open(path) as f:
        for line in f:
            if not line.startswith(".") or line.startswith(".\\\""):
                continue
            words = line[1:].split()
            for i, w in enumerate(words):
                if w != "Fl":
                    continue
                args = []
                for a in words[i + 1:]:
                    if a in _MACROS:
                        break
                    if a not in _DELIMITERS:
                        args.append(a)
                found.update("-" + a for a in args)
    return found
