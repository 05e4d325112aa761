"""Man pages (share/man): they render without a warning, and they cannot
drift from the commands, the settings and the job model.

* every user command in bin/ has a page (the internal daemons are listed),
* ``mandoc -T lint -W warning`` (or ``groff -ww -z`` without mandoc) is
  silent for each page,
* every option a command's ``--help`` or usage message lists is marked up in
  its page (gsatctl's shorthands print gsatctl's help, so gsatctl(1) counts
  for them too),
* gsatellite.conf(5) has every setting of ``config.DEFAULTS`` with its
  default and its ``GSAT_`` variable, and etc/gsatellite.conf agrees,
* gsatellite(7) names every job type, state, directive and user command.
"""

import glob
import os
import re
import shutil
import subprocess

import pytest
from cli_surface import INTERNAL, MAN, SHORTHANDS, USER_COMMANDS, listed_options, page, page_options
from conftest import BIN, ROOT

from gsatellite import config, directives, jobtypes, states

PAGES = sorted(glob.glob(os.path.join(MAN, "man[1-9]", "*.[1-9]")))


def _rel(path):
    return os.path.relpath(path, MAN)


def test_every_command_has_a_page_or_is_internal():
    # bin/installed/ holds what pip installs in their place (setup.cfg scripts).
    commands = sorted(n for n in os.listdir(BIN) if os.path.isfile(os.path.join(BIN, n)))
    assert sorted(set(commands) - set(INTERNAL)) == sorted(USER_COMMANDS)
    for command in USER_COMMANDS:
        text = open(page(command)).read()
        assert ".Dt %s 1\n" % command.upper() in text
        assert ".Nm %s\n" % command in text


def _lint(path):
    if shutil.which("mandoc"):
        return subprocess.run(["mandoc", "-T", "lint", "-W", "warning", path],
                              capture_output=True, text=True, cwd=MAN)
    if shutil.which("groff"):
        return subprocess.run(["groff", "-ww", "-z", "-mdoc", "-Tutf8", path],
                              capture_output=True, text=True, cwd=MAN)
    pytest.skip("neither mandoc nor groff is installed (make test-deps installs mandoc)")


@pytest.mark.parametrize("path", PAGES, ids=_rel)
def test_page_renders_without_warnings(path):
    p = _lint(path)
    assert p.returncode == 0 and not (p.stdout + p.stderr).strip(), p.stdout + p.stderr


@pytest.mark.parametrize("command", USER_COMMANDS)
def test_page_documents_every_listed_option(command):
    documented = page_options(page(command))
    if command in SHORTHANDS:
        documented |= page_options(page("gsatctl"))
    missing = listed_options(command) - documented
    assert not missing, "%s lists options its man page lacks: %s" % (command, sorted(missing))


def _conf_items():
    """``{key: text of its .It block}`` of gsatellite.conf(5)."""
    text = open(page("gsatellite.conf", 5)).read()
    items = {}
    for block in text.split("\n.It Cm ")[1:]:
        key, _, body = block.partition("\n")
        items[key.strip()] = body.split("\n.It ")[0].split("\n.El")[0]
    return items


@pytest.mark.parametrize("key", sorted(config.DEFAULTS))
def test_conf_page_has_setting_default_and_variable(key):
    items = _conf_items()
    assert key in items, "gsatellite.conf(5) lacks %s" % key
    body = items[key]
    assert ".Ev GSAT_%s" % key.upper() in body
    default = config.DEFAULTS[key]
    if default:
        assert ".Ql %s ;" % default in body, "default of %s is not %r in the page" % (key, default)
    else:
        assert "Default: empty" in body


def test_conf_page_has_no_unknown_setting():
    assert sorted(_conf_items()) == sorted(config.DEFAULTS)


def test_shipped_conf_documents_every_default():
    text = open(os.path.join(ROOT, "etc", "gsatellite.conf")).read()
    shipped = dict(re.findall(r"^#(\w+) =[ ]?(.*)$", text, re.M))
    assert shipped == config.DEFAULTS


def test_seven_page_covers_the_job_model():
    text = open(page("gsatellite", 7)).read()
    for name in jobtypes.names():
        assert ".It Cm %s\n" % name in text, "job type %s" % name
    for state in states.ALL:
        assert state in text
    for option in directives.KNOWN:
        assert ".It Li #GSAT Fl %s " % option[1:] in text or ", Li #GSAT Fl %s " % option[1:] in text, option
    for event in ("JOB_START", "JOB_TERMINATION"):
        assert event in text
    for command in USER_COMMANDS:
        assert ".Xr %s 1" % command in text
    assert "gsatmail" in text  # not written yet: the page says so
