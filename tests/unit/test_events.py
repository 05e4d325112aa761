"""The event bus and the one state transition function of the job store."""

import os

import pytest

from gsatellite import events, paths, states
from gsatellite.jobstore import JobTooLarge

from .conftest import new_job


@pytest.fixture
def store(home):
    s, s.job_id = new_job(home, bus=events.Bus())
    return s


def record(bus, *names):
    seen = []
    for name in names:
        bus.subscribe(name, lambda event, job_id, **info: seen.append((event, job_id, info)))
    return seen


def test_subscribers_run_in_order_and_a_failing_one_breaks_nothing(capsys):
    bus = events.Bus()
    seen = []
    bus.subscribe(events.JOB_START, lambda e, j: seen.append(("first", j)))
    bus.subscribe(events.JOB_START, lambda e, j: 1 / 0)
    bus.subscribe(events.JOB_START, lambda e, j: seen.append(("third", j)))
    bus.emit(events.JOB_START, "00001")
    assert seen == [("first", "00001"), ("third", "00001")]
    assert "subscriber failed" in capsys.readouterr().out


def test_event_names_are_checked():
    bus = events.Bus()
    with pytest.raises(ValueError):
        bus.subscribe("JOB_END", print)
    with pytest.raises(ValueError):
        bus.emit("STATE", "00001")


def test_transition_writes_the_state_then_emits_state_and_event(store):
    job_id = store.job_id
    seen = []

    def check(event, job_id, **info):
        # Subscribers see the new state already written, link included.
        seen.append((event, store.state(job_id), os.path.lexists(paths.state_link(states.HELD, job_id))))

    store.bus.subscribe(events.JOB_STATE, check)
    store.bus.subscribe(events.JOB_ABORT, check)
    assert store.transition(job_id, states.HELD, events.JOB_ABORT, reason="why") == states.QUEUED
    assert seen == [(events.JOB_STATE, states.HELD, True), (events.JOB_ABORT, states.HELD, True)]


def test_transition_to_the_same_state_emits_only_its_event(store):
    seen = record(store.bus, events.JOB_STATE, events.JOB_ABORT)
    store.transition(store.job_id, states.QUEUED)
    assert seen == []
    store.transition(store.job_id, states.QUEUED, events.JOB_ABORT, reason="r")
    assert seen == [(events.JOB_ABORT, store.job_id, {"reason": "r"})]


def test_remove_emits_deleted_while_the_files_exist(store):
    job_id = store.job_id
    existed = []
    store.bus.subscribe(events.JOB_DELETED, lambda e, j: existed.append(store.read(j, "job.name")))
    store.remove(job_id)
    assert existed == ["j.job"]
    assert not store.exists(job_id)


def test_a_store_without_a_bus_emits_nothing(home):
    s, job_id = new_job(home)
    s.transition(job_id, states.RUNNING, events.JOB_START)
    assert s.state(job_id) == states.RUNNING


def test_copy_script_of_bytes_read_stops_at_the_limit_and_sets_the_mode_whole(home):
    s, _ = new_job(home)
    job_id, _ = s.new_id()
    s.stage(job_id, "big.job", "default")
    gone = os.path.join(str(home), "never-read.job")  # named in the error only
    with pytest.raises(JobTooLarge):
        s.copy_script(job_id, gone, "big.job", limit=10, data=b"x" * 11)
    old = os.umask(0o177)  # would leave the owner no execute bit
    try:
        s.copy_script(job_id, gone, "big.job", limit=10, data=b"#!/bin/sh\n")
    finally:
        os.umask(old)
    s.publish(job_id, "big.job")
    with open(s.job_path(job_id), "rb") as f:
        assert f.read() == b"#!/bin/sh\n"
    assert os.stat(s.job_path(job_id)).st_mode & 0o777 == 0o700


def test_copy_script_stops_at_the_limit(home):
    s, _ = new_job(home)
    src = os.path.join(str(home), "big.job")
    with open(src, "wb") as f:
        f.write(b"x" * 200000)
    job_id, _ = s.new_id()
    s.stage(job_id, "big.job", "default")
    with pytest.raises(JobTooLarge):
        s.copy_script(job_id, src, "big.job", limit=100000)
    s.copy_script(job_id, src, "big.job", limit=200000)
    s.publish(job_id, "big.job")
    assert os.path.getsize(s.job_path(job_id)) == 200000
    assert s.state(job_id) == states.QUEUED


def test_the_shipped_mail_service_costs_no_process_when_it_would_send_nothing(home, monkeypatch, tmp_path):
    """Regression: with the classic mail link in the system directories,
    every job start and end ran a shell and an interpreter that then sent
    nothing (mail turned off, or no way to mail): the 100-job drain took
    1.6x as long."""
    system = paths.system_services_dir(events.JOB_START)
    assert sorted(os.listdir(system)) == ["mail"]  # the classic default, shipped
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))  # no `mail` command
    env_file = str(tmp_path / "job.env")
    monkeypatch.setenv("GSAT_MAIL_SERVICE", "yes")
    assert events.run_services(events.JOB_START, env_file) == []
    monkeypatch.setenv("GSAT_MAIL_SERVICE", "no")
    fake = bin_dir / "mail"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o700)
    assert events.run_services(events.JOB_START, env_file) == []
    monkeypatch.setenv("GSAT_MAIL_SERVICE", "yes")
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + "/usr/bin:/bin")
    started = events.run_services(events.JOB_START, env_file)
    assert [p.args[3] for p in started] == [system]
    for p in started:
        p.wait(30)

