"""The life of jobs through the real daemons and commands (PROTOCOL.md §5).

Covers: the fifo and nobatch schedulers, exit value -> finished/failed,
hold of a queued and of a running job (the hold signal reaches the job and
the children it spawned, the next job starts, a release runs the job
again), delete of queued/held/ended jobs and the refusal for a running one,
gqsig, the independence of the job copy from the user's file, job files with
spaces in their names, jobs without a shebang, and a classic client written
with shell tools only that submits through the raw message-box protocol.

Jobs prove what happened to them by writing marker files; the tests wait
for those (never for a fixed time) and then assert on their content.
"""

import os
import subprocess


# A job that blocks until the test creates the file named in its first line.
BLOCKER = 'while [ ! -e "%s" ]; do sleep 0.05; done\n'


def _lines(text):
    return [line for line in text.splitlines() if line]


def _alive(pid):
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _read(path):
    with open(path) as f:
        return f.read()


def _release(path):
    with open(path, "w"):
        pass


# -- schedulers ---------------------------------------------------------------

def _sequence_job(gsat, n, log, exit_value):
    # Each job logs its start and stop into one shared file, so the order of
    # lines is the order in which jobs really ran.
    return gsat.job(
        "seq%d.job" % n,
        'echo "start $GSAT_O_JOBID" >> "%s"\nsleep 0.3\necho "stop $GSAT_O_JOBID" >> "%s"\nexit %d\n'
        % (log, log, exit_value),
    )


def test_fifo_runs_one_job_at_a_time_in_id_order(gsat):
    gsat.start()
    log = str(gsat.tmp / "sequence.log")
    jobs = [_sequence_job(gsat, n, log, v) for n, v in enumerate((0, 5, 0))]
    ids = gsat.qsub(*jobs)
    assert ids == ["00000", "00001", "00002"]
    for job_id in ids:
        gsat.wait_state(job_id, ("finished", "failed"))
    assert _lines(_read(log)) == [
        "start 00000", "stop 00000", "start 00001", "stop 00001", "start 00002", "stop 00002",
    ]
    assert [gsat.state(i) for i in ids] == ["finished", "failed", "finished"]
    assert [gsat.attr(i, "job.exit") for i in ids] == ["0", "5", "0"]
    starts = [int(gsat.attr(i, "job.start")) for i in ids]
    stops = [int(gsat.attr(i, "job.stop")) for i in ids]
    for i in range(3):
        assert starts[i] <= stops[i]
    for i in range(2):
        assert stops[i] <= starts[i + 1], (starts, stops)


def test_nobatch_runs_all_jobs_at_once(gsat):
    gsat.start(scheduler="nobatch")
    here = gsat.tmp / "here"
    here.mkdir()
    # Each job announces itself and succeeds only once it has seen all three
    # announcements; one-at-a-time scheduling makes the first one fail.
    body = (
        'touch "%s/$GSAT_O_JOBID"\n'
        'for i in $(seq 200); do\n'
        '  [ "$(ls "%s" | wc -l)" -ge 3 ] && exit 0\n'
        '  sleep 0.05\n'
        'done\n'
        'exit 1\n'
    ) % (here, here)
    ids = gsat.qsub(*[gsat.job("all%d.job" % n, body) for n in range(3)])
    for job_id in ids:
        assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
        assert gsat.attr(job_id, "job.exit") == "0"
    starts = [int(gsat.attr(i, "job.start")) for i in ids]
    stops = [int(gsat.attr(i, "job.stop")) for i in ids]
    assert max(starts) <= min(stops)
    assert sorted(os.listdir(here)) == ids


# -- hold and release ------------------------------------------------------------

HOLDABLE = r'''
if [ -e first.run ]; then echo second >> runs; exit 0; fi
touch first.run
echo first >> runs
trap 'echo TERM > parent.term; exit 143' TERM
bash -c 'trap "echo TERM > child.term; exit 143" TERM; while :; do sleep 0.05; done' &
echo $! > child.pid
echo $$ > parent.pid
while :; do sleep 0.05; done
'''


def test_hold_running_job_signals_job_and_child_then_release_reruns(gsat):
    gsat.start()
    a = gsat.qsub(gsat.job("holdme.job", HOLDABLE))
    b = gsat.qsub(gsat.job("next.job", "echo next ran\n"))
    work = os.path.join(gsat.job_dir(a), "jobtmp")
    gsat.wait_for(lambda: os.path.exists(os.path.join(work, "parent.pid"))
                  and os.path.exists(os.path.join(work, "child.pid")), what="job A's pid files")
    assert gsat.state(a) == "running"
    assert gsat.state(b) == "queued"
    parent = int(_read(os.path.join(work, "parent.pid")))
    child = int(_read(os.path.join(work, "child.pid")))
    assert _alive(parent) and _alive(child)

    p = gsat.run("gqhold", "0")
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    assert gsat.state(a) == "held"
    gsat.wait_for(lambda: not _alive(parent) and not _alive(child), what="held job to stop")
    assert _read(os.path.join(work, "parent.term")) == "TERM\n"
    assert _read(os.path.join(work, "child.term")) == "TERM\n"
    assert gsat.wait_state(b, ("finished", "failed")) == "finished"
    assert gsat.attr(b, "job.stdout") == "next ran"
    assert gsat.state(a) == "held"
    gsat.wait_for(lambda: len(_lines(gsat.attr(a, "job.stop"))) == 1, what="first run's stop time")
    assert len(_lines(gsat.attr(a, "job.start"))) == 1

    p = gsat.run("gqrls", "0")
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    assert gsat.wait_state(a, ("finished", "failed")) == "finished"
    assert _lines(_read(os.path.join(work, "runs"))) == ["first", "second"]
    assert len(_lines(gsat.attr(a, "job.start"))) == 2
    assert len(_lines(gsat.attr(a, "job.stop"))) == 2
    assert gsat.attr(a, "job.exit") == "0"


def test_hold_and_release_queued_job(gsat):
    gsat.start()
    gate = str(gsat.tmp / "gate")
    a = gsat.qsub(gsat.job("block.job", BLOCKER % gate))
    b = gsat.qsub(gsat.job("queued.job", "echo b\n"))
    gsat.wait_state(a, "running")
    assert gsat.state(b) == "queued"
    assert gsat.run("gqhold", b).returncode == 0
    assert gsat.state(b) == "held"
    held = os.path.join(gsat.g, "gschedule", "held", b + ".d")
    assert os.readlink(held) == gsat.job_dir(b)
    assert not os.path.lexists(os.path.join(gsat.g, "gschedule", "queued", b + ".d"))
    # A held job is not started when the running one ends.
    _release(gate)
    gsat.wait_state(a, "finished")
    c = gsat.qsub(gsat.job("after.job", "true\n"))
    gsat.wait_state(c, "finished")
    assert gsat.state(b) == "held"
    assert gsat.attr(b, "job.start") == ""
    assert gsat.run("gqrls", "1").returncode == 0
    assert gsat.wait_state(b, ("finished", "failed")) == "finished"
    assert gsat.attr(b, "job.stdout") == "b"


# -- delete -----------------------------------------------------------------------

def _gone(gsat, job_id):
    links = [os.path.join(gsat.g, "gschedule", s, job_id + ".d")
             for s in ("queued", "running", "held", "finished", "failed")]
    return not os.path.lexists(gsat.job_dir(job_id)) and not any(map(os.path.lexists, links))


def test_delete_queued_held_and_ended_jobs_but_not_a_running_one(gsat):
    gsat.start()
    gate = str(gsat.tmp / "gate")
    ended = gsat.qsub(gsat.job("ended.job", "exit 2\n"))
    gsat.wait_state(ended, "failed")
    running = gsat.qsub(gsat.job("block.job", BLOCKER % gate))
    queued = gsat.qsub(gsat.job("queued.job", "true\n"))
    held = gsat.qsub(gsat.job("held.job", "true\n"))
    gsat.wait_state(running, "running")
    assert gsat.run("gqhold", held).returncode == 0
    assert gsat.state(held) == "held"

    p = gsat.run("gqdel", running)
    assert p.returncode == 1
    assert "Cannot remove a running job! Try to hold the job first." in p.stderr
    assert gsat.state(running) == "running"
    assert os.path.isdir(gsat.job_dir(running))

    for job_id, short in ((queued, "2"), (held, held), (ended, "0")):
        p = gsat.run("gqdel", short)
        assert p.returncode == 0, p.stderr
        assert p.stdout == ""
        assert _gone(gsat, job_id), job_id

    p = gsat.run("gqdel", queued)
    assert p.returncode == 1
    assert 'Invalid job id "%s"!' % queued in p.stderr
    _release(gate)
    assert gsat.wait_state(running, ("finished", "failed")) == "finished"
    # Deleted ids are never handed out again.
    new = gsat.qsub(gsat.job("new.job", "true\n"))
    assert new == "00004"
    gsat.wait_state(new, "finished")


# -- signals ---------------------------------------------------------------------

# Only bash builtins: gqsig signals the whole process group, and a `sleep`
# child would die of SIGUSR1 instead of trapping it.
USR1_JOB = r'''
trap 'echo USR1 >> got.usr1' USR1
mkfifo idle
exec 3<>idle
echo $$ > ready
while [ ! -e got.usr1 ]; do read -t 0.1 -u 3 _; done
exit 0
'''


def test_gqsig_usr1_reaches_trapping_job(gsat):
    gsat.start()
    job_id = gsat.qsub(gsat.job("usr1.job", USR1_JOB))
    work = os.path.join(gsat.job_dir(job_id), "jobtmp")
    gsat.wait_for(lambda: os.path.exists(os.path.join(work, "ready")), what="job ready")
    p = gsat.run("gqsig", "-s", "USR1", str(int(job_id)))
    assert p.returncode == 0, p.stderr
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    assert _read(os.path.join(work, "got.usr1")) == "USR1\n"


def test_gqsig_default_is_sigterm(gsat):
    gsat.start()
    job_id = gsat.qsub(gsat.job("term.job", "echo $$ > ready\nexec sleep 600\n"))
    work = os.path.join(gsat.job_dir(job_id), "jobtmp")
    gsat.wait_for(lambda: os.path.exists(os.path.join(work, "ready")), what="job ready")
    assert gsat.run("gqsig", job_id).returncode == 0
    assert gsat.wait_state(job_id, ("finished", "failed")) == "failed"
    assert gsat.attr(job_id, "job.exit") == "143"


# -- the job file ------------------------------------------------------------------

def test_job_copy_is_independent_of_the_original(gsat):
    gsat.start()
    gate = str(gsat.tmp / "gate")
    blocker = gsat.qsub(gsat.job("block.job", BLOCKER % gate))
    original = gsat.job("copy.job", "echo old content\n")
    job_id = gsat.qsub(original)
    gsat.wait_state(blocker, "running")
    assert gsat.state(job_id) == "queued"
    with open(original, "w") as f:
        f.write("#!/bin/bash\necho new content\nexit 9\n")
    _release(gate)
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    assert gsat.attr(job_id, "job.stdout") == "old content"
    assert _read(os.path.join(gsat.job_dir(job_id), "jobtmp", "copy.job")) == "#!/bin/bash\necho old content\n"


def test_job_file_with_spaces_in_its_path(gsat):
    gsat.start()
    d = gsat.tmp / "dir with spaces"
    d.mkdir()
    path = str(d / "my job file.sh")
    with open(path, "w") as f:
        f.write('#!/bin/bash\necho "ran in $PWD"\necho "$GSAT_JOBNAME"\n')
    os.chmod(path, 0o755)
    p = gsat.run("gqsub", "my job file.sh", cwd=str(d))
    assert p.returncode == 0, p.stderr
    job_id = p.stdout.strip()
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    work = os.path.join(gsat.job_dir(job_id), "jobtmp")
    assert gsat.attr(job_id, "job.stdout").splitlines() == ["ran in " + work, "my job file.sh"]
    assert gsat.attr(job_id, "job.name") == "my job file.sh"
    assert os.readlink(os.path.join(gsat.job_dir(job_id), job_id)) == os.path.join(work, "my job file.sh")
    table = gsat.run("gqstat").stdout.splitlines()
    assert table[2].startswith("finished     %s " % job_id)
    assert table[2].rstrip().endswith("my job file.sh")


def test_job_without_shebang_runs_under_bash(gsat):
    gsat.start()
    path = gsat.job("plain.job", 'echo "bash=${BASH_VERSION:+yes}"\n[[ -n $BASH ]] && exit 4\n',
                    shebang="")
    os.chmod(path, 0o644)
    job_id = gsat.qsub(path)
    assert gsat.wait_state(job_id, ("finished", "failed")) == "failed"
    assert gsat.attr(job_id, "job.exit") == "4"
    assert gsat.attr(job_id, "job.stdout") == "bash=yes"


# -- a classic client made of shell tools -------------------------------------------

CLASSIC_QSUB = r'''
set -e
G="$HOME/.gsatellite"
host=$(cat "$G/gsatlcHostName")
pid=$(cat "$G/gsatlcPid")
box="$G/mboxes/$host/$pid.inbox"
tmp=$(mktemp -d -p "$G/mboxes/$host" XXXXXXXX)
mv "$tmp" "$tmp.inbox"
answerbox="$tmp.inbox"
msg=$(mktemp -p "$box" .message.XXXXXXXX)
echo "QSUB $1;$answerbox" > "$msg"
mv "$msg" "$box/message.${msg##*/.message.}"
kill -CONT "$pid"
for i in $(seq 600); do
    for f in "$answerbox"/message*; do
        if [ -e "$f" ]; then
            cat "$f"
            rm -rf "$answerbox"
            exit 0
        fi
    done
    sleep 0.1
done
exit 1
'''


def test_classic_shell_client_submits_with_qsub(gsat):
    gsat.start()
    job = gsat.job("classic.job", "echo via classic client\n")
    p = subprocess.run(["bash", "-c", CLASSIC_QSUB, "classic-qsub", job], env=gsat.env,
                       capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, p.stderr
    answer, sep, sender = p.stdout.strip().partition(";")
    assert answer == "00000"
    assert sep == ";" and sender == gsat.controller_box()
    rows = gsat.run("gqstat").stdout.splitlines()[2:]
    assert len(rows) == 1
    assert rows[0].split()[1] == "00000"
    assert rows[0].rstrip().endswith("classic.job")
    assert gsat.wait_state("00000", ("finished", "failed")) == "finished"
    assert gsat.attr("00000", "job.stdout") == "via classic client"
