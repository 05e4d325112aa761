"""job.env (PROTOCOL.md §6): quoting that survives a real bash, and build().

Every value is written with :func:`jobenv.render`, sourced by ``bash`` and
printed back with ``printf %s``; the bytes must be exactly the value.  The
reader the mail code uses (:func:`mail.parse_env`, no shell) must agree.
"""

import os
import pwd
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lib"))

from gsatellite import jobenv, mail, paths  # noqa: E402

HOSTILE = [
    "",
    "plain",
    "two words",
    'double "quoted"',
    "single 'quoted'",
    "$HOME and ${HOME} and $(id -u)",
    "back`quote` `id`",
    "back\\slash \\\\ \\n \\",
    "trailing backslash\\",
    "line one\nline two\n",
    "\n",
    "tab\there",
    "non-ASCII: äöü ß € 日本 🚀",
    "!history !! ^x",
    "semi;colon & pipe | amp && or ||",
    "glob * ? [a-z] ~",
    "\\\"$`",
    "export X=\"y\"\nexport Z=1",
]


def _source_and_print(tmp_path, env, name):
    f = tmp_path / "job.env"
    f.write_text(jobenv.render(env), encoding="utf-8")
    p = subprocess.run(
        ["bash", "-c", 'source "$1"; printf %s "${!2}"', "bash", str(f), name],
        capture_output=True, env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"},
    )
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.parametrize("value", HOSTILE)
def test_value_survives_bash(tmp_path, value):
    assert _source_and_print(tmp_path, {"VAR": value}, "VAR") == value.encode("utf-8")


def test_many_values_in_one_file(tmp_path):
    env = {"V%d" % i: v for i, v in enumerate(HOSTILE)}
    for name, value in env.items():
        assert _source_and_print(tmp_path, env, name) == value.encode("utf-8"), name


def test_sourcing_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    env = {"A": "$(touch %s)" % marker, "B": "`touch %s`" % marker, "C": '"; touch %s; "' % marker}
    for name in env:
        _source_and_print(tmp_path, env, name)
    assert not marker.exists()


def test_quote_form():
    assert jobenv.quote("") == '""'
    assert jobenv.quote('a"b$c`d\\e') == '"a\\"b\\$c\\`d\\\\e"'
    assert jobenv.render({"X": "1"}) == 'export X="1"\n'


def test_parse_env_reads_back_render(tmp_path):
    env = {"V%d" % i: v for i, v in enumerate(HOSTILE)}
    f = tmp_path / "job.env"
    f.write_text(jobenv.render(env), encoding="utf-8")
    assert mail.parse_env(str(f)) == env


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    paths.reset()
    yield str(h)
    paths.reset()


def test_build_default(home, monkeypatch):
    # The classic writer used $USER, often empty; the login name must come
    # from the user database.
    monkeypatch.setenv("USER", "")
    monkeypatch.setenv("LOGNAME", "someone-else")
    # gsatellite's bin/ may be added to the job's PATH (for ``trigger``);
    # having it there already keeps the expected value exact.
    job_path = '/bin:/odd "dir"/$x:' + paths.bin_dir()
    monkeypatch.setenv("PATH", job_path)
    env = jobenv.build("00042", "my job", "default", "host.example.org")
    assert env == {
        "GSAT_JOBNAME": "my job",
        "GSAT_O_WORKDIR": os.path.join(home, ".gsatellite", "gschedule", "jobs", "00042.d", "jobtmp"),
        "GSAT_O_HOME": home,
        "GSAT_O_LOGNAME": pwd.getpwuid(os.getuid()).pw_name,
        "GSAT_O_JOBID": "00042",
        "GSAT_O_HOST": "host.example.org",
        "GSAT_O_PATH": job_path,
    }


@pytest.mark.parametrize("job_type", ["gtransfer", "tgftp"])
def test_build_transfer_types_get_proxy(home, job_type):
    env = jobenv.build("00001", "t", job_type, "h")
    assert env["X509_USER_PROXY"] == os.path.join(home, ".gsatellite", "tmp", "defaultGsiProxyCredential")


@pytest.mark.parametrize("job_type", ["default", "nosuchtype", ""])
def test_build_other_types_no_proxy(home, job_type):
    assert "X509_USER_PROXY" not in jobenv.build("00001", "t", job_type, "h")


def test_logname_from_user_else_login_name(monkeypatch):
    monkeypatch.setenv("USER", "someone-classic")
    assert jobenv.logname() == "someone-classic"
    monkeypatch.delenv("USER")
    assert jobenv.logname() == pwd.getpwuid(os.getuid()).pw_name
    monkeypatch.setenv("USER", "")
    assert jobenv.logname() == pwd.getpwuid(os.getuid()).pw_name
