"""Cron autostart (lib/gsatellite/autostart.py, ``gsatlcd --install-cron``,
``--remove-cron``, ``--paths``) against a fake ``crontab`` on PATH.

* the generated lines parse as crontab entries (``@reboot`` and a valid
  five-field schedule) whose command names an existing interpreter and
  gsatlcd by absolute path,
* install adds exactly our two lines, twice installed is still two, and
  removal restores the user's table byte for byte,
* a crontab that cannot be read is never written (exit 69, one line on
  stderr, table untouched); a missing crontab command is a clear error,
* ``--paths`` prints existing paths for this tree.

Starting the controller from these lines is in tests/e2e/test_autostart.py.
"""

import os
import re
import shlex
import subprocess
import sys

import pytest
from conftest import BIN
from fake_crontab import fake_crontab

from gsatellite import autostart

FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
USER_TABLE = (
    "# my own jobs\n"
    "MAILTO=me@example.org\n"
    "0 3 * * * /home/me/backup.sh  # gsatellite is mentioned here but it is not ours\n"
    "@reboot /home/me/tunnel.sh\n"
)


def parse_entry(line):
    """``(schedule, command)`` of one crontab entry; AssertionError if invalid."""
    if line.startswith("@"):
        special, command = line.split(None, 1)
        assert special in ("@reboot", "@hourly", "@daily", "@weekly", "@monthly", "@yearly")
        return special, command
    fields = line.split(None, 5)
    assert len(fields) == 6, line
    for field in fields[:5]:
        assert FIELD.match(field), "bad cron field %r in %r" % (field, line)
    return " ".join(fields[:5]), fields[5]


def test_lines_are_valid_entries_running_gsatlcd_start():
    lines = autostart.cron_lines()
    schedules = [parse_entry(line)[0] for line in lines]
    assert schedules == ["@reboot", "*/%d * * * *" % autostart.DEFAULT_INTERVAL]
    for line in lines:
        assert autostart.is_ours(line)
        words = shlex.split(parse_entry(line)[1], comments=True)
        python, gsatlcd = words[0], words[1]
        assert os.path.isabs(python) and os.access(python, os.X_OK)
        assert os.path.isabs(gsatlcd) and os.path.basename(gsatlcd) == "gsatlcd"
        assert os.path.isfile(gsatlcd)
        assert words[2] == "--start"


def test_with_and_without_ours_keep_other_lines():
    ours = autostart.cron_lines("true")
    table = autostart.with_ours(USER_TABLE.rstrip("\n"), ours)  # no final newline
    assert table == USER_TABLE + "".join(line + "\n" for line in ours)
    assert autostart.with_ours(table, ours) == table
    assert autostart.without_ours(table) == USER_TABLE
    assert autostart.without_ours("") == ""


@pytest.fixture
def env(tmp_path):
    fake = str(tmp_path / "fakebin")
    table = fake_crontab(fake)
    home = tmp_path / "home"
    home.mkdir()
    e = dict(os.environ, HOME=str(home), PATH=os.pathsep.join([fake, BIN, os.environ.get("PATH", "")]))
    e.pop("GSAT_HOSTNAME", None)
    return e, table


def gsatlcd(env, *args):
    p = subprocess.run(["gsatlcd", *args], env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def _read(path):
    with open(path) as f:
        return f.read()


def test_install_into_an_empty_table_then_remove(env):
    e, table = env
    p = gsatlcd(e, "--install-cron")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    lines = _read(table).splitlines()
    assert len(lines) == 2 and all(autostart.is_ours(line) for line in lines)
    for line in lines:
        parse_entry(line)
    assert gsatlcd(e, "--remove-cron").returncode == 0
    assert _read(table) == ""


def test_install_keeps_the_users_lines_and_remove_restores_them(env):
    e, table = env
    with open(table, "w") as f:
        f.write(USER_TABLE)
    assert gsatlcd(e, "--install-cron").returncode == 0
    assert gsatlcd(e, "--install-cron").returncode == 0
    text = _read(table)
    assert text.startswith(USER_TABLE)
    assert sum(autostart.is_ours(line) for line in text.splitlines()) == 2
    assert gsatlcd(e, "--remove-cron").returncode == 0
    assert _read(table) == USER_TABLE
    # Nothing of ours left: removing again changes nothing.
    assert gsatlcd(e, "--remove-cron").returncode == 0
    assert _read(table) == USER_TABLE


def test_unreadable_table_is_never_written(env):
    e, table = env
    with open(table, "w") as f:
        f.write(USER_TABLE)
    open(os.path.join(os.path.dirname(table), "broken"), "w").close()
    for option in ("--install-cron", "--remove-cron"):
        p = gsatlcd(e, option)
        assert p.returncode == 69
        assert p.stderr.count("\n") == 1 and "Permission denied" in p.stderr
    assert _read(table) == USER_TABLE


def test_missing_crontab_is_a_clear_error(tmp_path):
    e = dict(os.environ, HOME=str(tmp_path), PATH=os.path.dirname(sys.executable))
    p = subprocess.run([sys.executable, os.path.join(BIN, "gsatlcd"), "--install-cron"],
                       env=e, capture_output=True, text=True, timeout=60)
    assert p.returncode == 69
    assert p.stderr.startswith("gsatlcd: crontab not found") and p.stderr.count("\n") == 1


def test_paths_lists_existing_files(env):
    e, _ = env
    p = gsatlcd(e, "--paths")
    assert p.returncode == 0
    found = dict(re.findall(r'^(\w+)="(.*)"$', p.stdout, re.M))
    for key in ("commands", "libexec", "services", "man", "bash_completion", "zsh_completion",
                "systemd_unit", "examples"):
        assert os.path.exists(found[key]), (key, found[key])
    assert os.path.isfile(os.path.join(found["man"], "man1", "gqsub.1"))
    assert os.path.isfile(os.path.join(found["commands"], "gqsub"))


def test_usage_of_the_new_options(env):
    e, _ = env
    p = gsatlcd(e, "--paths", "extra")
    assert p.returncode == 1 and p.stderr.startswith("usage: gsatlcd ")
