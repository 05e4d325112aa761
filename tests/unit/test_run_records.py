"""A run's end is recorded once (runs.record_end): job.exit, then the line
in job.stop that commits it, whoever of the sputnik, the controller or an
adopting sputnik learns of it first."""

import os

from gsatellite import runs


def _words(path):
    with open(path) as f:
        return f.read().split()


def test_an_end_is_recorded_once_per_run(tmp_path):
    d = str(tmp_path)
    start, stop, exit_ = (os.path.join(d, n) for n in ("job.start", "job.stop", "job.exit"))
    with open(start, "w") as f:
        f.write("100\n")
    assert runs.record_end(d, 75, 101)
    assert not runs.record_end(d, 3, 102)  # a second recorder of the same end
    assert _words(stop) == ["101"] and _words(exit_) == ["75"]
    with open(start, "a") as f:
        f.write("110\n")  # the next run (a restart)
    assert runs.record_end(d, 0, 111)
    assert not runs.record_end(d, 0, 112)
    assert _words(stop) == ["101", "111"] and _words(exit_) == ["0"]


def test_a_run_without_a_recorded_start_still_ends_once(tmp_path):
    d = str(tmp_path)
    assert runs.record_end(d, 127, 5)
    assert not runs.record_end(d, 127, 6)
    assert _words(os.path.join(d, "job.stop")) == ["5"]


def test_runs_are_counted_by_whitespace_bytes_only(tmp_path):
    """A hand-edited job.start with a byte that Unicode takes for a
    separator (\\x1c) or a non-breaking space holds one run: its end is
    recorded once, not twice."""
    d = str(tmp_path)
    with open(os.path.join(d, "job.start"), "wb") as f:
        f.write(b"1700000000\x1c1\xc2\xa02\n")
    assert runs.record_end(d, 0, 5)
    assert not runs.record_end(d, 0, 6)
    assert _words(os.path.join(d, "job.stop")) == ["5"]


def test_a_fifo_as_job_start_does_not_block(tmp_path):
    d = str(tmp_path)
    os.mkfifo(os.path.join(d, "job.start"))
    assert runs.record_end(d, 0, 5)  # no run on record: this end is the one
    assert not runs.record_end(d, 0, 6)
