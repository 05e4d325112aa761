"""What a command imports at start-up: shared by the unit and e2e tests.

The client commands must start at the interpreter's floor (issue 18), so
they import nothing their hot path does not use: no third-party package,
and none of the standard modules below, each of which costs a client a
millisecond or more (``signal`` and ``re`` bring ``enum``, ``functools``
and ``collections``).  A fresh interpreter started with ``-S`` (no site:
the global site-packages' ``.pth`` files import ``re`` themselves) and
``-X importtime`` lists every module it imported.
"""

import os
import subprocess
import sys

FORBIDDEN = frozenset((
    "re", "json", "shutil", "enum", "signal", "collections", "functools", "typing",
    "subprocess", "tempfile", "socket", "threading", "logging", "pathlib", "importlib.util",
    "datetime", "random", "email", "ctypes", "zipfile", "tarfile", "locale", "inspect",
    # third-party packages gsatellite depends on
    "cryptography", "dateutil", "sh",
))


def forbidden(argv, env, cwd=None, timeout=60):
    """``(forbidden modules imported, completed process)`` for ``argv``
    (a Python file and its arguments) run by this interpreter."""
    p = subprocess.run([sys.executable, "-S", "-X", "importtime"] + list(argv), env=env, cwd=cwd,
                       capture_output=True, text=True, timeout=timeout)
    found = set()
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name in FORBIDDEN or name.split(".", 1)[0] in FORBIDDEN:
                found.add(name)
    return found, p


def library_path():
    """``PYTHONPATH`` that finds the gsatellite under test without site."""
    import gsatellite

    return os.path.dirname(os.path.dirname(os.path.abspath(gsatellite.__file__)))
