#!/usr/bin/env python3
"""gsatmail throughput: signed job mails verified, submitted and answered
per second through ``gsatmail --maildir`` (the jobs do not run: they wait
for a start time in 2099, so their run is excluded).

    python3 bench/gsatmail.py [--messages N] [--runs R] [--output docs/benchmarks.md]

Each run uses a fresh temporary $HOME with a running controller, the test
PKI of tests/smime_kit.py (RSA 2048) and a real SMTP server on loopback
for the replies (signed, encrypted).  Prints the median; with --output it
replaces the "## gsatmail" section of that file.  Every daemon started is
stopped by its PID.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import smime_kit  # noqa: E402
import smtp_server  # noqa: E402
from common import replace_section  # noqa: E402

JOB = "#!/bin/bash\n#GSAT -a 209912312359\ntrue # %d\n"
FORMS = ("detached", "opaque", "encrypted")


def _run(env, *argv, data=None):
    return subprocess.run(list(argv), env=env, input=data, capture_output=True, timeout=600)


def one_run(pki, n, form):
    tmp = tempfile.mkdtemp(prefix="gsatmail-bench.")
    server = smtp_server.SmtpServer().start()
    env = dict(os.environ, HOME=tmp, PATH=os.path.join(ROOT, "bin") + os.pathsep + os.environ["PATH"],
               GSAT_SMTP_HOST=smtp_server.HOST, GSAT_SMTP_PORT=str(server.port), GSAT_MAIL_SERVICE="no")
    env.pop("GSAT_HOSTNAME", None)
    g = os.path.join(tmp, ".gsatellite")
    try:
        _run(env, "gsatmail", "--init")
        pki.install(g)
        if _run(env, "gsatlcd", "--start").returncode != 0:
            raise SystemExit("gsatlcd --start failed")
        maildir = os.path.join(tmp, "Maildir")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(maildir, sub))
        for i in range(n):
            with open(os.path.join(maildir, "new", "%d.%d.bench" % (1700000000 + i, i)), "wb") as f:
                f.write(smime_kit.message(pki.alice, JOB % i, form=form, pki=pki))
        start = time.monotonic()
        p = _run(env, "gsatmail", "--maildir", maildir)
        elapsed = time.monotonic() - start
        if p.returncode != 0 or os.listdir(os.path.join(maildir, "new")):
            raise SystemExit("gsatmail failed: %s" % p.stderr.decode())
        server.wait_count(n)
        return n / elapsed
    finally:
        server.stop()
        pid = open(os.path.join(g, "gsatlcPid")).read().strip() if os.path.exists(os.path.join(g, "gsatlcPid")) else ""
        _run(env, "gsatlcd", "--stop")
        if pid.isdigit():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)


def section(results, n, runs):
    lines = ["## gsatmail", "",
             "Signed job mails verified, submitted and answered (reply signed and encrypted) per second through",
             "`gsatmail --maildir` (bench/gsatmail.py, %d messages a run, median of %d runs; the jobs wait for a" % (n, runs),
             "start time and do not run).  %s, %s." % (time.strftime("%Y-%m-%d"), _machine()), "",
             "| form | messages/s |", "|---|---|"]
    lines += ["| %s | %.1f |" % (form, rate) for form, rate in results]
    return "\n".join(lines) + "\n"


def _machine():
    cores = os.cpu_count()
    return "%d core%s, %s" % (cores, "s" if cores != 1 else "", subprocess.run(
        ["openssl", "version"], capture_output=True, text=True).stdout.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--output")
    args = ap.parse_args()
    pki = smime_kit.Pki()
    results = []
    for form in FORMS:
        rates = [one_run(pki, args.messages, form) for _ in range(args.runs)]
        results.append((form, statistics.median(rates)))
        print("%-10s %.1f messages/s (%s)" % (form, results[-1][1], ", ".join("%.1f" % r for r in rates)))
    text = section(results, args.messages, args.runs)
    if args.output:
        replace_section(args.output, "gsatmail", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
