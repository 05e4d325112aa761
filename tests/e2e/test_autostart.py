"""Autostart for real: the cron line ``gsatlcd --install-cron`` writes and the
systemd user unit each start a controller in a temporary $HOME.

* the installed cron command, run by ``sh`` with cron's bare environment,
  starts the controller, and run again (the periodic "start if not running")
  leaves the same controller in place,
* the unit passes ``systemd-analyze verify`` (skipped without systemd), is
  ``Type=forking`` with ``PIDFile`` naming gsatlcPid and ``KillMode=process``
  (stopping it leaves jobs running), and its ExecStart/ExecStop, run as
  systemd would with the unit's PATH, start and stop the controller.

Both use the files of the installation under test (``gsatlcd --paths``).
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from fake_crontab import fake_crontab

from gsatellite import autostart


def _paths(gsat):
    p = gsat.run("gsatlcd", "--paths", check=True)
    return dict(re.findall(r'^(\w+)="(.*)"$', p.stdout, re.M))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cron_line_starts_the_controller_once(gsat, tmp_path):
    table = fake_crontab(str(tmp_path / "fakebin"))
    gsat.env["PATH"] = str(tmp_path / "fakebin") + os.pathsep + gsat.env["PATH"]
    gsat.run("gsatlcd", "--install-cron", check=True)
    with open(table) as f:
        periodic = [line for line in f.read().splitlines() if autostart.is_ours(line)
                    and not line.startswith("@")][0]
    command = periodic.split(None, 5)[5]
    cron_env = {"HOME": gsat.home, "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "LOGNAME": "nobody"}
    subprocess.run(["/bin/sh", "-c", command], env=cron_env, check=True, timeout=60)
    pid = gsat.controller_pid()
    assert pid and _alive(pid)
    assert gsat.run("gsatlcd", "--status").returncode == 0
    subprocess.run(["/bin/sh", "-c", command], env=cron_env, check=True, timeout=60)
    assert gsat.controller_pid() == pid
    log = os.path.join(gsat.g, "var", "log", "autostart.log")
    assert os.path.exists(log)


def _unit(gsat):
    path = _paths(gsat)["systemd_unit"]
    keys = {}
    with open(path) as f:
        text = f.read()
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            keys.setdefault(key, value)
    return path, text, keys


def test_unit_verifies(gsat):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    path, _, _ = _unit(gsat)
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", path],
                       capture_output=True, text=True, timeout=120)
    # verify reports bad settings on stderr but may still exit 0.
    assert p.returncode == 0 and not (p.stdout + p.stderr).strip(), p.stdout + p.stderr


def test_unit_start_and_stop_as_systemd_runs_them(gsat):
    _, text, keys = _unit(gsat)
    assert "loginctl enable-linger" in text
    assert keys["Type"] == "forking"
    assert keys["KillMode"] == "process"
    assert keys["PIDFile"] == "%h/.gsatellite/gsatlcPid"
    name, _, unit_path = keys["Environment"].partition("=")
    assert name == "PATH"
    # As the unit's comment says: the directories of gsatlcd and of the
    # python3 that has gsatellite's dependencies go first.
    first = [_paths(gsat)["commands"], os.path.dirname(sys.executable)]
    run_env = {"HOME": gsat.home, "PATH": os.pathsep.join(first + [unit_path.replace("%h", gsat.home)])}

    def run(key):
        return subprocess.run(shlex.split(keys[key].replace("%h", gsat.home)), env=run_env,
                              capture_output=True, text=True, timeout=60)

    p = run("ExecStart")
    assert p.returncode == 0, p.stderr
    # Type=forking: ExecStart has returned, the PID file names a live daemon.
    pid_file = keys["PIDFile"].replace("%h", gsat.home)
    with open(pid_file) as f:
        pid = int(f.read())
    assert _alive(pid)
    p = run("ExecStop")
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(pid_file)
    gsat.wait_for(lambda: not _alive(pid) or _zombie(pid), what="controller exit")


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
