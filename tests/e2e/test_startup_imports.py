"""The real gqsub, gqstat (table and -f) and trigger, run against a real
controller and job store, import none of :data:`startup_imports.FORBIDDEN`
(issue 18: the commands start at the interpreter's floor).  Each runs in a
fresh interpreter started with ``-S -X importtime``: the checkout's
launcher, or with GSAT_TEST_INSTALLED=1 the script pip installed."""

import os
import sys

from conftest import BIN

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from startup_imports import forbidden, library_path  # noqa: E402


def _check(gsat, *argv):
    # The default transport: over System V queues (.ci/run's sysv pass) a
    # client needs sysv_ipc, a third-party package found through site,
    # whose .pth files import much of this list; the controller serves
    # boxes and queues at once, so these clients reach it either way.
    env = dict(gsat.env, PYTHONPATH=library_path(), GSAT_TRANSPORT="file")
    found, p = forbidden([os.path.join(BIN, argv[0])] + list(argv[1:]), env, cwd=gsat.jobs)
    assert p.returncode == 0, (argv, p.stdout, p.stderr[-2000:])
    assert not found, "%s imports %s" % (argv[0], sorted(found))
    return p


def test_commands_import_nothing_heavy(gsat):
    gsat.start()
    busy = gsat.qsub(gsat.job("long.job", "exec sleep 3600\n"))
    gsat.wait_state(busy, "running")
    p = _check(gsat, "gqsub", gsat.job("t.job", "true\n"))
    queued = p.stdout.split("\n", 1)[0].strip()
    assert gsat.state(queued) == "queued"
    _check(gsat, "gqstat")
    _check(gsat, "gqstat", "-f")
    _check(gsat, "trigger", "--job", busy, "DATA_READY")
