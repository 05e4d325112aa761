"""A job that runs twice (held while running, then released): its output
and its times (issue 12, items 3 and 6).

* ``job.stdout``/``job.stderr`` hold the current run, as the classic runner
  kept them; the first run's output is in ``job.stdout.1``/``job.stderr.1``.
* gqpeek shows the current run, says on stderr how to see the earlier one,
  and ``--run 1`` shows it.
* ``gqstat -f`` prints the classic lines only; ``-f -x`` adds the new ones,
  with the start and stop times of the same run (no stop while the second
  run goes on, where the last ``job.stop`` line is the first run's).
* The classic runner (``sputnikRunJob``) keeps earlier runs the same way.
"""

import json
import os

from conftest import BIN
from e2e.test_classic_internals import _classic_job, _collect, _controller_box, _resign

from gsatellite import views

TWICE = r'''
if [ -e first.done ]; then
    echo "run 2 out"; echo "run 2 err" >&2
    while [ ! -e go ]; do sleep 0.05; done
    exit 0
fi
touch first.done
echo "run 1 out"; echo "run 1 err" >&2
while :; do sleep 0.05; done
'''

CLASSIC_F = ("job.id", "job.name", "job.dir", "job.state", "job.execHost", "job.pid", "job.start", "job.stop")


def _keys(block):
    return [line.split("=", 1)[0] for line in block.splitlines() if "=" in line]


def test_second_run_keeps_the_first_runs_output_and_times(gsat):
    gsat.start()
    a = gsat.qsub(gsat.job("twice.job", TWICE))
    jdir = gsat.job_dir(a)
    gsat.wait_for(lambda: gsat.attr(a, "job.stdout") == "run 1 out", what="the first run's output")
    assert gsat.run("gqhold", a).returncode == 0
    gsat.wait_for(lambda: gsat.state(a) == "held" and len(gsat.attr(a, "job.stop").split()) == 1,
                  what="the first run to stop")
    assert gsat.run("gqrls", a).returncode == 0
    gsat.wait_for(lambda: gsat.attr(a, "job.stdout") == "run 2 out" and gsat.attr(a, "job.stderr") == "run 2 err",
                  what="the second run's output")

    # The second run is going on.
    assert gsat.attr(a, "job.stdout.1") == "run 1 out"
    assert gsat.attr(a, "job.stderr.1") == "run 1 err"
    assert not os.path.exists(os.path.join(jdir, "job.stdout.2"))

    p = gsat.run("gqpeek", a)
    assert (p.returncode, p.stdout) == (0, "run 2 out\n")
    assert p.stderr == "gqpeek: job %s: run 2; earlier runs with --run 1\n" % a
    assert gsat.run("gqpeek", "--run", "1", a).stdout == "run 1 out\n"
    assert gsat.run("gqpeek", "-e", "--run", "1", a).stdout == "run 1 err\n"
    assert gsat.run("gqpeek", "--run", "2", a).stdout == "run 2 out\n"
    p = gsat.run("gqpeek", "--run", "3", a)
    assert p.returncode == 1 and "has no run 3" in p.stderr
    assert gsat.run("gqpeek", "-f", "--run", "1", a).returncode == 64

    starts = gsat.attr(a, "job.start").split()
    assert len(starts) == 2
    classic = gsat.run("gqstat", "-f", a, check=True).stdout
    assert _keys(classic) == list(CLASSIC_F)
    extended = gsat.run("gqstat", "-f", a, "-x", check=True).stdout
    assert extended.startswith(classic)
    assert 'job.startTime="%s"\n' % views.local_time(starts[1]) in extended
    assert "job.stopTime" not in extended
    (record,) = json.loads(gsat.run("gqstat", "--json", "-f", a, check=True).stdout)
    assert (record["runs"], record["run_start_epoch"], record["run_stop_epoch"]) == (2, int(starts[1]), None)

    open(os.path.join(jdir, "jobtmp", "go"), "w").close()
    assert gsat.wait_state(a, ("finished", "failed")) == "finished"
    stops = gsat.attr(a, "job.stop").split()
    extended = gsat.run("gqstat", "-f", a, "-x", check=True).stdout
    assert 'job.stopTime="%s"\n' % views.local_time(stops[1]) in extended
    assert int(stops[1]) >= int(starts[1])
    assert _keys(gsat.run("gqstat", "-f", a, check=True).stdout) == list(CLASSIC_F)
    # The whole first run is still there, and gqpeek -f of the ended job
    # shows the last run.
    assert gsat.attr(a, "job.stdout.1") == "run 1 out"
    assert gsat.run("gqpeek", "-f", a).stdout == "run 2 out\n"


def test_the_classic_runner_keeps_earlier_runs(gsat, monkeypatch):
    box = _controller_box(gsat, monkeypatch)
    try:
        jdir, job = _classic_job(gsat, "00000", "#!/bin/bash\necho out $(cat n 2>/dev/null)\necho x >> n\n")
        for expected in (1, 2, 3):
            p = gsat.run(os.path.join(BIN, "sputnikRunJob"), job, "00000", str(os.getpid()), box)
            assert p.returncode == 0, p.stderr
            assert [m.split(";")[0] for m in _collect(box, 3)][1:] == ["STARTED", "TERMINATED 0"]
            assert len(gsat.attr("00000", "job.stop").split()) == expected
        assert gsat.attr("00000", "job.stdout") == "out x x"
        assert gsat.attr("00000", "job.stdout.1") == "out"
        assert gsat.attr("00000", "job.stdout.2") == "out x"
        assert gsat.attr("00000", "job.stderr.2") == ""
    finally:
        _resign(gsat, box)
