"""Unit tests of the job view, the views and the client library, in process.

Jobs are written by the real :class:`JobStore` into a temporary ``$HOME``;
no controller runs, so the client operations tested here are those that
need none (status, ended jobs, the checks made before anything is sent),
plus :func:`client.exchange` against a box nobody reads.
"""

import json
import os
import time

import pytest

from gsatellite import transport
from gsatellite import client, job, paths, pidref, states, views
from gsatellite.jobstore import JobStore


@pytest.fixture
def store(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GSAT_HOSTNAME", "host.example.org")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    paths.reset()
    s = JobStore()
    s.ensure()
    yield s
    paths.reset()
    monkeypatch.delenv("TZ")
    time.tzset()


def new_job(store, tmp_path, name="work.job", state=states.QUEUED, attrs=None, job_type="default"):
    source = tmp_path / name
    source.write_text("#!/bin/bash\ntrue\n")
    job_id, _ = store.new_id()
    store.create(job_id, str(source), job_type, attrs=attrs)
    if state != states.QUEUED:
        store.set_state(job_id, state)
    return job_id


def test_job_view_reads_typed_attributes(store, tmp_path):
    job_id = new_job(store, tmp_path, attrs={"job.submitted": 1700000000, "job.startAfter": "x"})
    store.write(job_id, "job.start", "1700000010\n1700000020")
    store.write(job_id, "job.stop", "1700000015")
    store.write(job_id, "job.exit", "3")
    store.write(job_id, "job.pid", " 123 ")
    store.write(job_id, "job.events", "1700000010 JOB_START a b\n1700000015 JOB_END\nbroken")
    view = job.find("0")
    assert view.id == job_id == "00000"
    assert (view.name, view.state, view.type) == ("work.job", "queued", "default")
    assert (view.exit, view.pid, view.restarts, view.exec_host) == (3, 123, None, None)
    assert view.submitted == 1700000000 and view.start_after is None
    assert (view.starts, view.stops) == ([1700000010, 1700000020], [1700000015])
    assert view.events == [job.Event(1700000010, "JOB_START", "a b"), job.Event(1700000015, "JOB_END", "")]
    assert view.job_file == os.path.join(paths.job_tmp_dir(job_id), "work.job")
    assert view.exit_value() is None  # not ended
    store.set_state(job_id, states.FAILED)
    assert view.exit_value() is None  # cached until reloaded
    assert view.reload().exit_value() == 3 and view.ended_at() == 1700000015


def test_find_and_listing(store, tmp_path):
    a = new_job(store, tmp_path, "a.job")
    b = new_job(store, tmp_path, "b.job", states.HELD, job_type="tgftp")
    assert job.find("x") is None and job.find("7") is None and job.find("../0") is None
    assert job.ids() == [a, b] and job.ids(states.HELD) == [b]
    assert [j.id for j in job.jobs(job_type="tgftp")] == [b]
    with pytest.raises(client.InvalidJobId) as e:
        client.status("99")
    assert (e.value.message, e.value.exit_code) == ('Invalid job id "99"!', 1)
    with pytest.raises(client.UnknownState):
        client.status(state="gone")
    assert [j.id for j in client.status()] == [a, b]
    assert client.status("1", state=states.QUEUED) == []
    assert client.status(a, job_type="tgftp") == []


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_listing_again_and_again_keeps_one_descriptor_and_follows_a_new_store(store, tmp_path):
    """A long-lived lister (gsatmail) reads through the jobs directory open
    once; a store removed and made anew is listed, not the old one."""
    import shutil

    a = new_job(store, tmp_path, "a.job")
    assert [(j.id, j.name, j.job_file) for j in job.jobs()] == [(a, "a.job", store.job_path(a))]
    before = _open_fds()
    for _ in range(50):
        assert [j.id for j in job.jobs()] == [a]
    assert _open_fds() == before
    shutil.rmtree(paths.base())
    fresh = JobStore()
    fresh.ensure()
    new_job(fresh, tmp_path, "b.job")
    new_job(fresh, tmp_path, "c.job")
    assert [(j.id, j.name) for j in job.jobs()] == [("00000", "b.job"), ("00001", "c.job")]
    assert _open_fds() == before


def test_by_submit_box(store, tmp_path):
    a = new_job(store, tmp_path, attrs={"job.submitBox": "/b/1.1.inbox"})
    b = new_job(store, tmp_path, attrs={"job.submitBox": "/b/1.2.inbox"})
    assert job.by_submit_box(["/b/1.2.inbox", "/b/other"]) == {"/b/1.2.inbox": b}
    assert job.by_submit_box(["/b/1.1.inbox"], first=int(b)) == {}
    assert job.by_submit_box(["/b/1.1.inbox"]) == {"/b/1.1.inbox": a}
    assert job.next_id() == 2


def test_table_pads_bytes_and_cuts_characters(store, tmp_path):
    long_name = "größe-" + "x" * 30 + ".job"
    a = new_job(store, tmp_path, long_name, states.RUNNING)
    store.write(a, "job.execHost", "h" * 30)
    text = views.table(job.jobs())
    lines = text.splitlines(True)
    assert lines[:2] == [views.HEADER, views.RULE]
    # "größe-" is 6 characters but 8 bytes: the cut takes 24 characters.
    assert lines[2] == "running      00000  %s %s\n" % ("h" * 24, long_name[:24])


def test_detailed_classic_and_extended(store, tmp_path):
    a = new_job(store, tmp_path, attrs={"job.submitted": 1700000000})
    classic = views.detailed(job.Job(a))
    # By default only the classic lines, whoever submitted the job.
    assert classic.splitlines() == [
        'job.id="00000"', 'job.name="work.job"', 'job.dir="%s"' % paths.job_dir(a), 'job.state="queued"']
    extended = views.detailed(job.Job(a), extended=True)
    # The extended view adds the new attributes after the classic lines.
    assert extended.startswith(classic)
    assert 'job.type="default"' in extended and extended.endswith('job.events="0"\n')
    assert 'job.submitTime="2023-11-14 22:13:20"\n' in extended
    # Without job.submitted (a classic submission) only a non-zero event count is added.
    os.unlink(paths.job_file(a, "job.submitted"))
    assert "job.type" not in views.detailed(job.Job(a), extended=True)
    assert views.detailed_list([job.Job(a)]) == views.detailed(job.Job(a)) + "\n"


def test_extended_times_are_those_of_one_run(store, tmp_path):
    a = new_job(store, tmp_path, state=states.RUNNING, attrs={"job.submitted": 1700000000})
    # The second run is going on: the stop of the first is not its stop.
    store.write(a, "job.start", "1700000100\n1700000200")
    store.write(a, "job.stop", "1700000150")
    shown = views.detailed(job.Job(a), extended=True)
    assert 'job.startTime="%s"\n' % views.local_time("1700000200") in shown
    assert "job.stopTime" not in shown
    (record,) = json.loads(views.json_text([job.Job(a)]))
    assert (record["runs"], record["run_start_epoch"], record["run_stop_epoch"]) == (2, 1700000200, None)
    store.write(a, "job.stop", "1700000150\n1700000260")
    shown = views.detailed(job.Job(a), extended=True)
    assert 'job.stopTime="%s"\n' % views.local_time("1700000260") in shown
    (record,) = json.loads(views.json_text([job.Job(a)]))
    assert record["run_stop_epoch"] == 1700000260
    assert record["run_stop_iso"] == views.iso(1700000260)


def test_json_keys_are_fixed(store, tmp_path):
    a = new_job(store, tmp_path, attrs={"job.submitted": 1700000000})
    store.write(a, "job.start", "1700000001")
    (record,) = json.loads(views.json_text(job.jobs()))
    assert record["id"] == a and record["state"] == "queued" and record["exit"] is None
    assert record["submitted_epoch"] == 1700000000
    assert record["submitted_iso"] == "2023-11-14T22:13:20+0000"
    assert record["starts_epoch"] == [1700000001] and record["stops_iso"] == []
    assert record["events"] == [] and record["reason"] is None
    assert record["job_file"] == job.Job(a).job_file
    empty = {k for k, v in record.items() if v is None}
    assert {"pid", "exec_host", "start_after_epoch", "sputnik_pid"} <= empty


def test_ended_jobs(store, tmp_path):
    old = new_job(store, tmp_path, "old.job", states.FINISHED)
    store.write(old, "job.stop", str(int(time.time()) - 3600))
    new = new_job(store, tmp_path, "new.job", states.FAILED)
    store.write(new, "job.stop", str(int(time.time())))
    new_job(store, tmp_path, "q.job")
    assert client.ended_jobs() == [old, new]
    assert client.ended_jobs(older_than=600) == [old]
    assert client.ended_jobs((states.FAILED,)) == [new]


def test_operations_need_a_controller(store, tmp_path):
    a = new_job(store, tmp_path)
    for call in (lambda: client.hold(a), lambda: client.release(a), lambda: client.delete(a),
                 lambda: client.submit([str(tmp_path / "work.job")])):
        with pytest.raises(client.NotRunning) as e:
            call()
        assert e.value.exit_code == 69
    with pytest.raises(client.ClientError) as e:
        client.signal_job(a, "NOSUCHSIG")
    assert (e.value.exit_code, e.value.message) == (64, 'Unknown signal "NOSUCHSIG"!')


def _fake_controller(store):
    """A live controller per the liveness rule, whose box nobody reads."""
    pid = os.getppid()  # a live process that is not us
    host = paths.hostname()
    with open(paths.gsatlc_host_file(), "w") as f:
        f.write(host + "\n")
    # With its sidecar: the start time tells it is that process (a bare
    # PID must name a controller's program).
    pidref.write_pid_file(paths.gsatlc_pid_file(), pid)
    box = transport.process_address(pid, host)
    os.makedirs(box, mode=0o700)
    return (host, pid), box


def test_exchange_withdraws_unread_requests(store, tmp_path, monkeypatch):
    monkeypatch.setenv("GSAT_ANSWER_TIMEOUT", "0.2")
    info, box = _fake_controller(store)
    monkeypatch.setattr("gsatellite.transport.base.wake_owner", lambda box: 0)
    outcomes, boxes, error = client.exchange(info, ["QHOLD 00000", "QHOLD 00001"])
    assert outcomes == [client.operations.WITHDRAWN] * 2 and len(boxes) == 2
    assert os.listdir(box) == []
    with pytest.raises(client.NoAnswer) as e:
        client.hold(new_job(store, tmp_path))
    assert e.value.withdrawn and e.value.exit_code == 69
    assert e.value.message.endswith("; qhold not done.")
    job_file = tmp_path / "x.job"
    job_file.write_text("true\n")
    (result,) = client.submit([str(job_file)], settle=0)
    assert isinstance(result, client.NotSubmitted) and result.exit_code == 69
    assert result.message.endswith("; %s not submitted." % job_file)
    assert os.listdir(box) == [] and job.ids() == ["00000"]


def test_submit_refuses_bad_files_before_sending(store, tmp_path, monkeypatch):
    _, box = _fake_controller(store)
    warnings = []
    bad = tmp_path / "bad.job"
    bad.write_text("#!/bin/bash\n#GSAT -W depend=afterok:77\ntrue\n")
    with pytest.raises(client.BadJobFile) as e:
        client.submit([str(bad)], warn=lambda path, text: warnings.append(text))
    assert "dependency on unknown job 00077; nothing submitted." in e.value.message
    with pytest.raises(client.BadJobFile) as e:
        client.submit(["missing.job"], cwd=str(tmp_path))
    assert e.value.message == 'Job "%s" not existing!' % (tmp_path / "missing.job")
    assert os.listdir(box) == []
