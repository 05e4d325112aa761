"""lazysite: an interpreter started with -S (as bin/'s client launchers
start it) imports site only when an import needs site-packages, and then
finds the module there."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from startup_imports import library_path  # noqa: E402

PROBE = """
import sys
from gsatellite import lazysite
lazysite.install()
lazysite.install()  # twice: still one finder
import gsatellite.cli.gqstat
print("site" in sys.modules, sum(type(f).__name__ == "_SiteOnDemand" for f in sys.meta_path))
import pytest  # only in site-packages
print("site" in sys.modules, pytest.__name__, sum(type(f).__name__ == "_SiteOnDemand" for f in sys.meta_path))
try:
    import no_such_module_anywhere
except ImportError:
    print("ImportError")
"""


def _run(*flags):
    env = dict(os.environ, PYTHONPATH=library_path())
    return subprocess.run([sys.executable] + list(flags) + ["-c", PROBE], env=env,
                          capture_output=True, text=True, timeout=60)


def test_site_only_when_an_import_needs_it():
    p = _run("-S")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["False 1", "True pytest 0", "ImportError"]


def test_nothing_changes_where_site_ran():
    p = _run()
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["True 0", "True pytest 0", "ImportError"]
