"""Importing a client command and the modules its hot path loads later
(submission, transport, directives ...) pulls in none of
:data:`startup_imports.FORBIDDEN`, in a fresh interpreter without site.
tests/e2e/test_startup_imports.py runs the real commands."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from startup_imports import forbidden, library_path  # noqa: E402

# command -> modules its usual call imports (the command module first)
HOT = {
    "gqsub": ["gsatellite.cli.gsatctl", "gsatellite.client.submission", "gsatellite.client.operations",
              "gsatellite.transport.mbox", "gsatellite.directives", "gsatellite.jobtypes",
              "gsatellite.services", "gsatellite.proc", "gsatellite.liveness"],
    "gqstat": ["gsatellite.cli.gqstat", "gsatellite.client.listing", "gsatellite.views", "gsatellite.job"],
    "trigger": ["gsatellite.cli.trigger", "gsatellite.client.triggering", "gsatellite.transport.mbox",
                "gsatellite.liveness"],
}


@pytest.mark.parametrize("command", sorted(HOT))
def test_hot_path_modules_import_nothing_heavy(command):
    code = "import %s" % ", ".join(HOT[command])
    env = dict(os.environ, PYTHONPATH=library_path())
    found, p = forbidden(["-c", code], env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert not found, "%s imports %s" % (command, sorted(found))


def test_the_check_can_fail():
    env = dict(os.environ, PYTHONPATH=library_path())
    found, p = forbidden(["-c", "import gsatellite.cli.gqstat, json"], env)
    assert p.returncode == 0 and "json" in found
