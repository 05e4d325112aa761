"""The installation under test (a checkout, or with GSAT_TEST_INSTALLED=1 the
wheel installed into a fresh venv, see .ci/run):

* every console script of setup.cfg is a command on PATH, and it is the one
  under test (bin/ of the checkout, or the venv's),
* the library the tests import is the installed one, not the checkout's,
* ``gsatlcd --paths`` names existing man pages, completion scripts, systemd
  unit, services, configuration and examples,
* ``man`` finds the pages when pointed at that directory.
"""

import os
import re
import shutil
import subprocess

import pytest
from conftest import BIN, INSTALLED, ROOT

import gsatellite


def _console_scripts():
    """Every command setup.cfg installs: console scripts, and the client
    commands installed as scripts (bin/installed/)."""
    text = open(os.path.join(ROOT, "setup.cfg")).read()
    block = text.split("console_scripts =", 1)[1].split("\n[", 1)[0]
    scripts = text.split("\nscripts =", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\s+(\w+) = ", block, re.M) + re.findall(r"^\s+bin/installed/(\w+)$", scripts, re.M)


def test_every_command_is_on_path(gsat):
    names = _console_scripts()
    assert "gqsub" in names and "gqstat" in names and "gsatlcd" in names
    for name in names:
        found = shutil.which(name, path=gsat.env["PATH"])
        assert found and os.path.dirname(found) == BIN, (name, found)


def test_library_is_the_one_under_test():
    where = os.path.dirname(os.path.abspath(gsatellite.__file__))
    if INSTALLED:
        assert not where.startswith(ROOT + os.sep), where
    else:
        assert where == os.path.join(ROOT, "lib", "gsatellite")


def test_data_files_are_where_gsatlcd_says(gsat):
    p = gsat.run("gsatlcd", "--paths", check=True)
    found = dict(re.findall(r'^(\w+)="(.*)"$', p.stdout, re.M))
    for key in ("libexec", "services", "bash_completion", "zsh_completion", "systemd_unit", "examples"):
        assert os.path.exists(found[key]), (key, found[key])
    assert os.access(os.path.join(found["libexec"], "run-services"), os.X_OK)
    for event in ("onJOB_START", "onJOB_TERMINATION"):
        assert os.path.isdir(os.path.join(found["services"], event))
    for page in ("man1/gqsub.1", "man1/gsatlcd.1", "man5/gsatellite.conf.5", "man7/gsatellite.7"):
        assert os.path.isfile(os.path.join(found["man"], page)), page
    configs = found["config"].split()
    assert any(os.path.isfile(c) for c in configs), configs
    if INSTALLED:
        assert found["man"].startswith(os.path.dirname(BIN))


def test_man_finds_the_installed_pages(gsat):
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    man = dict(re.findall(r'^(\w+)="(.*)"$', gsat.run("gsatlcd", "--paths", check=True).stdout, re.M))["man"]
    p = subprocess.run(["man", "-M", man, "-w", "gqsub"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == os.path.join(man, "man1", "gqsub.1"), p.stderr
