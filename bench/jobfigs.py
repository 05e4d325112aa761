"""gsatellite-only figures about running jobs: ``trigger`` called from inside
a job until its service has started (figure 7) and throughput and controller
CPU with two slots (figure 9).  Figure 8 (job exit to ``gqwait``'s return)
is measured together with the side-by-side row f in figures.py.

Figure 7 is timed by the job itself, with ``date +%s.%N`` before each call
and in the service, so both ends pay for starting ``date``; the
interpreter start-up it is compared with is bracketed the same way in the
same job, pair by pair.
"""

import os
import shlex
import time

from common import all_pids, fmt_ratio, fmt_s, log, median, proc_stat, tmpfs_base, wait_until
from tools import TRUE, Gsat, Job

TICK = os.sysconf("SC_CLK_TCK")
EVENT = "B"


def _trigger_body(trigger, interp, n, starts, svc):
    """A job that, n times: times `python3 -c pass` and `<real> -c pass`,
    then calls trigger both ways, each time waiting for the service's line
    so that calls never overlap."""
    q = shlex.quote
    return """\
S={starts}
i=0
while [ $i -lt {n} ]; do
    a=$(date +%s.%N); python3 -c pass; b=$(date +%s.%N)
    echo "pass launcher $i $a $b" >> "$S"
    a=$(date +%s.%N); {interp} -c pass; b=$(date +%s.%N)
    echo "pass direct $i $a $b" >> "$S"
    for v in launcher direct; do
        a=$(date +%s.%N)
        if [ $v = launcher ]; then {trigger} {event} $v $i; else {interp} {trigger} {event} $v $i; fi
        rc=$?
        c=$(date +%s.%N)
        echo "start $v $i $a $c" >> "$S"
        [ $rc = 0 ] || echo "failed $v $i $rc" >> "$S"
        k=0
        until grep -q "^$v $i " {svc} 2>/dev/null; do
            k=$((k + 1))
            if [ $k -gt 1000 ]; then echo "timeout $v $i" >> "$S"; break; fi
            sleep 0.01
        done
    done
    i=$((i + 1))
done
""".format(starts=q(starts), n=n, interp=q(interp), trigger=q(trigger), event=EVENT, svc=q(svc))


def _parse(starts, svc):
    passes, calls, returned, problems, fired = {}, {}, {}, [], {}
    with open(starts) as f:
        for line in f:
            w = line.split()
            if w[0] == "pass":
                passes[w[1], w[2]] = float(w[4]) - float(w[3])
            elif w[0] == "start":
                calls[w[1], w[2]] = float(w[3])
                returned[w[1], w[2]] = float(w[4]) - float(w[3])
            else:
                problems.append(" ".join(w))
    if os.path.exists(svc):
        with open(svc) as f:
            for line in f:
                w = line.split()
                if len(w) == 3:
                    fired[w[0], w[1]] = float(w[2])
    return passes, calls, returned, problems, fired


def fig_trigger(ctx):
    rep = ctx.report
    n = ctx.n("latency")
    with Gsat(ctx.interp, "direct") as g:
        starts, svc = g.box.path("tmp", "trigger.starts"), g.box.path("tmp", "trigger.fired")
        sdir = os.path.join(g.g, "services", "on" + EVENT)
        os.makedirs(sdir)
        service = os.path.join(sdir, "s")
        with open(service, "w") as f:
            f.write('#!/bin/sh\necho "$GSAT_EVENT_ARGS $(date +%%s.%%N)" >> %s\n' % shlex.quote(svc))
        os.chmod(service, 0o755)  # run-services refuses group/other-writable services
        job = Job("trigger", ["true"], _trigger_body(os.path.join(g.bin, "trigger"), ctx.interp, n, starts, svc))
        job_id = g.submit(job)[0]
        if not wait_until(lambda: g.ended(job_id), 60 + 10 * n, 0.05):
            raise RuntimeError("trigger job %s did not end" % job_id)
        state = g.state(job_id)
        passes, calls, returned, problems, fired = _parse(starts, svc)
    if state != "finished" or problems:
        rep.note("figure 7: job %s, problems: %s" % (state, "; ".join(problems[:5]) or "none"))
    res = {}
    for v in ("launcher", "direct"):
        lat, ratios, ret = [], [], []
        for i in range(n):
            k = (v, str(i))
            if k in calls and k in fired:
                lat.append(fired[k] - calls[k])
                ret.append(returned[k])
                if k in passes:
                    ratios.append(lat[-1] / passes[k])
        if not lat:
            raise RuntimeError("no trigger of the %s kind reached its service" % v)
        res[v] = (median(lat), median(ratios), median([passes[v, str(i)] for i in range(n)
                                                       if (v, str(i)) in passes]), median(ret), len(lat))
    for v, what, base in (("launcher", "`trigger B` in a job, via launcher", "`python3 -c pass`"),
                          ("direct", "`<real> bin/trigger B` in a job", "`<real> -c pass`")):
        lat, ratio, pass_s, ret, got = res[v]
        rep.row(7, "%s, until its service has started" % what, fmt_s(lat),
                "%s of %s (%s in the job)" % (fmt_ratio(ratio), base, fmt_s(pass_s)))
        if got != n:
            rep.note("figure 7: only %d of %d `%s` calls reached their service" % (got, n, v))
    rep.note("figure 7: from before the call until `trigger` had exited and the next `date` ran: %s "
             "(launcher) / %s (direct), medians; the sputnik answers once it has started "
             "`run-services`, so the service may start before or after `trigger` returns"
             % (fmt_s(res["launcher"][3]), fmt_s(res["direct"][3])))
    rep.command("trigger: a job runs %d times `python3 -c pass`, `%s -c pass`, `bin/trigger B` and `%s "
                "bin/trigger B`, each bracketed by `date +%%s.%%N`; the user service "
                "`~/.gsatellite/services/onB/s` appends `date +%%s.%%N`; latency = service time - time "
                "before the call; ratio pair by pair to the interpreter start-up timed the same way"
                % (n, ctx.interp, ctx.interp))


def _cpu(pid):
    """(utime, stime, reaped children's cutime+cstime) in seconds."""
    fields = proc_stat(pid)
    if fields is None:
        raise RuntimeError("controller %d is gone" % pid)
    return int(fields[11]) / TICK, int(fields[12]) / TICK, (int(fields[13]) + int(fields[14])) / TICK


def _children(pid):
    kids = set()
    for p in all_pids():
        fields = proc_stat(p)
        if fields is not None and fields[1] == str(pid):
            kids.add(p)
    return kids


def _all_ended(g, ids):
    """Checked from the last id back: with fifo the later jobs end later, so
    each call reads only the job files still to end."""
    pending = list(ids)

    def done():
        while pending and g.ended(pending[-1]):
            pending.pop()
        return not pending

    return done


def _slots_run(ctx, n, slots):
    with Gsat(ctx.interp, "direct", env={"GSAT_SLOTS": str(slots)}) as g:
        files = [g.job_file(TRUE, i) for i in range(n)]
        cpid = g.controller_pid()
        # sigfwd is a long-lived child of the controller; it is not reaped.
        kids = _children(cpid)
        before = _cpu(cpid)
        start = time.perf_counter()
        ids = g.box.check(g.cmd("gqsub", *files), timeout=300).out.split()
        if len(ids) != n:
            raise RuntimeError("gqsub printed %d ids for %d jobs" % (len(ids), n))
        if not wait_until(_all_ended(g, ids), 600, 0.002):
            raise RuntimeError("not all %d jobs ended" % n)
        took = time.perf_counter() - start
        # A sputnik's times reach cutime/cstime only once it is reaped.
        if not wait_until(lambda: _children(cpid) <= kids, 30, 0.01):
            log("slots: sputniks still unreaped after 30 s")
        after = _cpu(cpid)
        failed = sum(1 for i in ids if g.state(i) != "finished")
    user, system, reaped = (a - b for a, b in zip(after, before))
    return {"took": took, "own": user + system, "system": system, "all": user + system + reaped,
            "failed": failed}


def fig_slots(ctx):
    rep = ctx.report
    n, slots = 200, 2
    reps = ctx.n("drain")
    runs = {"disk": [_slots_run(ctx, n, slots) for _ in range(reps)]}
    # On this machine the controller's file system calls cost it far more
    # CPU on the disk than on tmpfs, and that cost varies over minutes.
    with tmpfs_base() as shm:
        if shm:
            runs["tmpfs"] = [_slots_run(ctx, n, slots) for _ in range(reps)]
    for where, rs in runs.items():
        def med(key, rs=rs):
            return median([r[key] for r in rs])

        tail = "" if where == "disk" else ", $HOME on tmpfs (/dev/shm)"
        rep.row(9, "%d `true` jobs, %d slots, one `<real> bin/gqsub` call: jobs per second, first "
                "submission to last end%s" % (n, slots, tail), "%.0f jobs/s" % (n / med("took")),
                "%s in all; runs: %s" % (fmt_s(med("took")), ", ".join("%.0f" % (n / r["took"]) for r in rs)),
                ">= 300 jobs/s" if where == "disk" else "")
        rep.row(9, "controller CPU per job, gsatlc alone (utime+stime)%s" % tail, fmt_s(med("own") / n),
                "%.0f %% of it system time" % (100.0 * med("system") / med("own") if med("own") else 0))
        rep.row(9, "controller CPU per job, incl. reaped sputniks and their jobs (+cutime+cstime)%s" % tail,
                fmt_s(med("all") / n))
        if any(r["failed"] for r in rs):
            rep.note("figure 9 (%s): %s job(s) did not finish" % (where, ", ".join(str(r["failed"]) for r in rs)))
    if "tmpfs" in runs:
        rep.note("figure 9: the tmpfs rows show how much of the controller's CPU is the kernel's work on "
                 "this machine's disk file system (see the file creation cost in the header)")
    rep.command("slots: gsatlc started with GSAT_SLOTS=%d, `%s bin/gqsub f1 ... f%d` (`true` jobs); end seen "
                "by reading `job.state`; controller CPU from /proc/PID/stat before gqsub and after every "
                "sputnik was reaped (1 tick = %s); %d run(s) on disk and %d on tmpfs, fresh $HOME each"
                % (slots, ctx.interp, n, fmt_s(1.0 / TICK), reps, len(runs.get("tmpfs", []))))
