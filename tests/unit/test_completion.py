"""Shell completion (share/completion): the bash function is driven as bash
drives it (COMP_WORDS, COMP_CWORD, then COMPREPLY is read) against a job
store written by the real JobStore in a temporary $HOME.

* each command completes the job ids that make sense for it, taken from the
  store's state directories (running for gqsig, held for gqrls, ...),
* option values: states, job types, signals, events with a service directory,
* every option a command's --help or usage lists is offered (so a new option
  fails here until it is completable), in bash and in zsh,
* the zsh file parses, and its id helper reads the same store.
"""

import os
import shutil
import subprocess

import pytest
from cli_surface import SHORTHANDS, USER_COMMANDS, listed_options, options_in
from conftest import ROOT

from gsatellite import jobtypes, paths, states
from gsatellite.jobstore import JobStore

BASH = os.path.join(ROOT, "share", "completion", "gsatellite.bash")
ZSH = os.path.join(ROOT, "share", "completion", "_gsatellite")

# One job in each state, ids in this order.
LAYOUT = (states.QUEUED, states.RUNNING, states.HELD, states.FINISHED, states.FAILED)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("completion")
    home = str(tmp / "home")
    os.makedirs(home)
    job = tmp / "work.job"
    job.write_text("#!/bin/bash\ntrue\n")
    old = os.environ.get("HOME")
    os.environ["HOME"] = home
    paths.reset()
    try:
        store = JobStore()
        store.ensure()
        for state in LAYOUT:
            job_id, _ = store.new_id()
            store.create(job_id, str(job), "default")
            if state != states.QUEUED:
                store.set_state(job_id, state, notify=False)
        os.makedirs(paths.user_services_dir("STEP_DONE"))
        os.makedirs(paths.user_services_dir("JOB_START"))
    finally:
        os.environ["HOME"] = old
        paths.reset()
    return home


def ids(*wanted):
    return sorted("%05d" % LAYOUT.index(s) for s in wanted)


def complete(home, *words):
    """COMPREPLY of the bash completion for the command line ``words``."""
    script = (
        'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); '
        '_gsatellite; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "bash", BASH, *words],
                       env=dict(os.environ, HOME=home), capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and not p.stderr, p.stderr
    return sorted(w for w in p.stdout.split("\n") if w)


@pytest.mark.parametrize("words, wanted", [
    (("gqsig", ""), (states.RUNNING,)),
    (("gqrls", ""), (states.HELD,)),
    (("gqhold", ""), (states.QUEUED, states.RUNNING)),
    (("gqdel", ""), (states.QUEUED, states.HELD, states.FINISHED, states.FAILED)),
    (("gqwait", ""), (states.QUEUED, states.RUNNING, states.HELD)),
    (("gqpeek", "-f", ""), states.ALL),
    (("gqstat", "-f", ""), states.ALL),
    (("gsatctl", "--qrls", ""), (states.HELD,)),
    (("gsatctl", "-h", ""), (states.QUEUED, states.RUNNING)),
    (("trigger", "--job", ""), (states.RUNNING,)),
    (("gqsig", "-s", "USR1", ""), (states.RUNNING,)),
])
def test_job_ids_from_the_store(home, words, wanted):
    assert complete(home, *words) == ids(*wanted)


def test_ids_follow_state_changes(home, monkeypatch):
    # A job released from hold leaves gqrls's list and enters gqhold's.
    monkeypatch.setenv("HOME", home)
    paths.reset()
    held = ids(states.HELD)[0]
    try:
        JobStore().set_state(held, states.QUEUED, notify=False)
        assert complete(home, "gqrls", "") == []
        assert held in complete(home, "gqhold", "")
    finally:
        JobStore().set_state(held, states.HELD, notify=False)
        paths.reset()


def test_prefix_filters_ids(home):
    assert complete(home, "gqdel", "0000") == ids(states.QUEUED, states.HELD, states.FINISHED, states.FAILED)
    assert complete(home, "gqdel", "9") == []


def test_empty_store_offers_nothing(tmp_path):
    assert complete(str(tmp_path), "gqsig", "") == []


@pytest.mark.parametrize("words, expected", [
    (("gqstat", "-s", ""), sorted(states.ALL)),
    (("gqstat", "--job-state", "f"), ["failed", "finished"]),
    (("gqstat", "-t", ""), jobtypes.names()),
    (("gqsub", "-T", ""), jobtypes.names()),
    (("gsatctl", "--qsub", "-T", "g"), ["gtransfer"]),
    (("gqclean", "--state", ""), ["failed", "finished"]),
    (("trigger", ""), ["STEP_DONE"]),
    (("sendcmd", "-c", "A"), ["ALIVE?"]),
])
def test_option_values(home, words, expected):
    assert complete(home, *words) == expected


def test_signal_names(home):
    got = complete(home, "gqsig", "-s", "")
    assert {"SIGTERM", "TERM", "USR1", "SIGUSR1", "KILL"} <= set(got)


def test_job_files_for_gqsub(home, tmp_path):
    (tmp_path / "a.job").write_text("")
    got = complete(home, "gqsub", str(tmp_path / "a"))
    assert got == [str(tmp_path / "a.job")]


def _offered(home, command):
    if command == "gsatctl":
        return set(complete(home, "gsatctl", "-")) | set(complete(home, "gsatctl", "-s", "-"))
    return set(complete(home, command, "-"))


@pytest.mark.parametrize("command", USER_COMMANDS)
def test_bash_offers_every_listed_option(home, command):
    offered = _offered(home, command)
    if command in SHORTHANDS:
        offered |= _offered(home, "gsatctl")
    missing = listed_options(command) - offered
    assert not missing, "bash completion of %s lacks %s" % (command, sorted(missing))


def test_completion_registered_for_every_command(home):
    p = subprocess.run(["bash", "--norc", "-c", 'source "$1"; complete -p', "bash", BASH],
                       capture_output=True, text=True)
    for command in USER_COMMANDS:
        assert "complete -F _gsatellite %s\n" % command in p.stdout


@pytest.mark.parametrize("command", USER_COMMANDS)
def test_zsh_file_names_every_listed_option(command):
    text = open(ZSH).read()
    assert command in text.split("\n", 1)[0].split(), "#compdef lacks %s" % command
    offered = options_in(text.replace("{-", " -").replace(",-", " -"))
    # gsatctl's shorthands accept gsatctl's options only under gsatctl.
    missing = listed_options(command) - offered
    assert not missing, "zsh completion lacks %s" % sorted(missing)


needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")


@needs_zsh
def test_zsh_file_parses():
    p = subprocess.run(["zsh", "-n", ZSH], capture_output=True, text=True)
    assert p.returncode == 0 and not p.stderr, p.stderr


@needs_zsh
def test_zsh_ids_from_the_store(home):
    p = subprocess.run(["zsh", "-f", "-c", 'source "$1"; _gsat_ids held running', "zsh", ZSH],
                       env=dict(os.environ, HOME=home), capture_output=True, text=True)
    assert p.returncode == 0 and not p.stderr, p.stderr
    assert p.stdout.split() == ids(states.HELD) + ids(states.RUNNING)
