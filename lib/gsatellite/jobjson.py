"""``gqstat --json``: every attribute of a job under stable key names.

Keys are fixed (a missing attribute is ``null`` or an empty list, never
absent), so scripts can rely on them.  Times come twice: epoch seconds
(``*_epoch``) and ISO 8601 in local time with offset (``*_iso``).
"""

import json
import os
import time

from . import paths

# key -> job file, for single-value text attributes
TEXT = {
    "id": "job.id", "name": "job.name", "state": "job.state", "type": "job.type",
    "exec_host": "job.execHost", "reason": "job.reason", "depend": "job.depend",
    "mail_points": "job.mailPoints", "mail_to": "job.mailTo",
    "stdout_path": "job.stdoutPath", "stderr_path": "job.stderrPath",
    "output_error": "job.outputError",
}
NUMBERS = {"pid": "job.pid", "sputnik_pid": "sputnik.pid", "exit": "job.exit", "restarts": "job.restarts"}
TIMES = {"submitted": "job.submitted", "start_after": "job.startAfter"}
TIME_LISTS = {"starts": "job.start", "stops": "job.stop"}


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape").rstrip("\n")
    except OSError:
        return None


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def job(job_id):
    jdir = paths.job_dir(job_id)
    out = {"id": job_id, "dir": jdir}
    for key, attr in TEXT.items():
        value = _read(os.path.join(jdir, attr))
        out[key] = value if value else (job_id if key == "id" else None)
    try:
        out["job_file"] = os.readlink(os.path.join(jdir, job_id))
    except OSError:
        out["job_file"] = None
    for key, attr in NUMBERS.items():
        value = (_read(os.path.join(jdir, attr)) or "").strip()
        out[key] = int(value) if value.isdigit() else None
    for key, attr in TIMES.items():
        value = (_read(os.path.join(jdir, attr)) or "").strip()
        epoch = int(value) if value.isdigit() else None
        out[key + "_epoch"] = epoch
        out[key + "_iso"] = iso(epoch) if epoch is not None else None
    for key, attr in TIME_LISTS.items():
        values = [int(v) for v in (_read(os.path.join(jdir, attr)) or "").split() if v.isdigit()]
        out[key + "_epoch"] = values
        out[key + "_iso"] = [iso(v) for v in values]
    events = _read(os.path.join(jdir, "job.events")) or ""
    out["events"] = [
        {"epoch": int(w[0]), "iso": iso(int(w[0])), "name": w[1], "args": w[2] if len(w) > 2 else ""}
        for w in (line.split(" ", 2) for line in events.splitlines())
        if len(w) >= 2 and w[0].isdigit()
    ]
    return out


def dump(job_ids, stream):
    json.dump([job(j) for j in job_ids], stream, indent=2, sort_keys=True)
    stream.write("\n")
