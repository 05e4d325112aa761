"""The basic life of a job through the real commands."""


def test_submit_run_finish_and_fail(gsat):
    gsat.start()
    ok = gsat.job("ok.job", "echo out; echo err >&2; exit 0\n")
    bad = gsat.job("bad.job", "exit 3\n")
    a, b = gsat.qsub(ok, bad)
    assert (a, b) == ("00000", "00001")
    assert gsat.wait_state(a, ("finished", "failed")) == "finished"
    assert gsat.wait_state(b, ("finished", "failed")) == "failed"
    assert gsat.attr(a, "job.exit") == "0"
    assert gsat.attr(b, "job.exit") == "3"
    assert gsat.attr(a, "job.stdout") == "out"
    assert gsat.attr(a, "job.stderr") == "err"
    for job_id in (a, b):
        assert gsat.attr(job_id, "job.start").isdigit()
        assert gsat.attr(job_id, "job.stop").isdigit()


def test_gsatlcd_status_and_stop(gsat):
    assert gsat.run("gsatlcd", "--status").returncode == 1
    gsat.start()
    p = gsat.run("gsatlcd", "--status")
    assert p.returncode == 0
    assert 'gsatlc PID="%d"' % gsat.controller_pid() in p.stdout
    assert gsat.stop().returncode == 0
    assert gsat.run("gsatlcd", "--status").returncode == 1
    p = gsat.run("gqsub", gsat.job("x.job", "true\n"))
    assert p.returncode == 69
    assert "gsatlc is not running. Start it with `gsatlcd --start'." in p.stderr
