"""Mail: the shipped ``mail``/``mailJobTarball`` services and per-job notices.

Messages are built in memory (no file with a predictable name in a shared
temporary directory, unlike the classic service).  The way out
(:func:`send`): the ``sendmail`` command when configured; SMTP when
``smtp_host`` or ``smtp_port`` is configured; else, for a message without
attachment, the local ``mail`` command when it is on PATH, as the classic
service mailed; else SMTP to the default ``localhost:25``.  A delivery
failure is reported to the caller's log and never touches the job.

The address: ``G/myEmailAddress`` as a whole, split into words as the
classic service's unquoted ``$( __getEmailAddress )`` split it, else the
login name.

The ``mail`` service linked into the install tree's service directories
(the classic default) stays silent when the ``mail_service`` setting is
``no``; linked into the user's own directories it always mails.

Per-job notification points (``-m``, as PBS ``qsub -m``): ``b`` when the job
begins, ``e`` when it ends, ``a`` when it is aborted (ends failed, or is held
while running); ``n`` none.
"""

import io
import os
import socket
import tarfile
import time
from email.message import EmailMessage

from . import config, jobenv, paths
from .fsutil import read_first_line


class MailError(Exception):
    pass


def default_recipients():
    """The words of ``G/myEmailAddress``, else the login name (the classic rule)."""
    from .fsutil import read_text

    return read_text(paths.email_address_file(), "").split() or [jobenv.login_name()]


def sender():
    return config.get("mail_from") or "%s@%s" % (jobenv.login_name(), paths.hostname())


def body(info):
    lines = ["Event: %s" % info.get("GSAT_EVENT", "")]
    if info.get("GSAT_JOB_EXIT_VALUE", "") != "":
        lines.append("Job exit value: %s" % info["GSAT_JOB_EXIT_VALUE"])
    lines += [
        "Job name: %s" % info.get("GSAT_JOBNAME", ""),
        "Job id: %s" % info.get("GSAT_O_JOBID", ""),
        "Executed on: %s" % info.get("GSAT_O_HOST", ""),
        "Working directory: %s" % info.get("GSAT_O_WORKDIR", ""),
        "Paths used: %s" % info.get("GSAT_O_PATH", ""),
    ]
    if info.get("GSAT_REASON"):
        lines.append("Reason: %s" % info["GSAT_REASON"])
    return "\n".join(lines) + "\n"


def compose(info, recipients, tarball_of=None):
    msg = EmailMessage()
    msg["Subject"] = "[GSAT] %s => %s" % (info.get("GSAT_O_JOBID", ""), info.get("GSAT_EVENT", ""))
    msg["From"] = sender()
    msg["To"] = ", ".join(recipients)
    msg["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S %z")
    msg.set_content(body(info))
    if tarball_of:
        data, note = tarball(tarball_of)
        if data is None:
            msg.set_content(body(info) + "\n" + note + "\n")
        else:
            name = "job_%s.tar.gz" % info.get("GSAT_O_JOBID", "")
            msg.add_attachment(data, maintype="application", subtype="gzip", filename=name)
    return msg


def tarball(job_dir):
    """The job directory as a gzip'ed tar in memory, or ``(None, reason)``."""
    limit = config.get_int("mail_tarball_limit")
    buf = io.BytesIO()
    try:
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(job_dir, arcname=os.path.basename(job_dir.rstrip("/")))
    except OSError as e:
        return None, "No tarball attached: %s" % e
    if buf.tell() > limit:
        return None, "No tarball attached: it would be %d bytes (mail_tarball_limit %d)." % (buf.tell(), limit)
    return buf.getvalue(), None


# The controller asks at every job start and end whether the shipped mail
# service would send (events._worth_running): a look at every PATH entry.
# The answer is kept for a few seconds per PATH, so a drain pays it once and
# a ``mail`` installed meanwhile is found soon after.
MAIL_COMMAND_TTL = 10.0
_mail_command = {}  # PATH -> (monotonic time of the look, answer)


def local_mail_command():
    """The ``mail`` command on PATH, or None."""
    import shutil

    search = os.environ.get("PATH")
    now = time.monotonic()
    found = _mail_command.get(search)
    if found is None or now - found[0] > MAIL_COMMAND_TTL:
        if len(_mail_command) > 8:
            _mail_command.clear()
        found = _mail_command[search] = (now, shutil.which("mail"))
    return found[1]


def service_would_send():
    """Whether the shipped ``mail`` service in the system service
    directories would mail: it is on (``mail_service``) and there is a way
    to mail, a configured ``sendmail`` or SMTP server, or the local ``mail``
    command the classic service used.  Without one it is not run at all."""
    if not config.get_bool("mail_service"):
        return False
    return bool(config.get("sendmail") or config.is_set("smtp_host") or config.is_set("smtp_port")
                or local_mail_command())


def transport(msg):
    """``"sendmail"``, ``"smtp"`` or ``"mail"``: how :func:`send` sends ``msg``."""
    if config.get("sendmail"):
        return "sendmail"
    if config.is_set("smtp_host") or config.is_set("smtp_port"):
        return "smtp"
    # The mail command sends text only (an S/MIME reply is not).
    if msg.get_content_type() == "text/plain" and local_mail_command():
        return "mail"
    return "smtp"


def _run(argv, data, what):
    import subprocess

    try:
        p = subprocess.run(argv, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=config.get_float("mail_timeout"))
    except (OSError, subprocess.SubprocessError) as e:
        raise MailError("%s failed: %s" % (what, e))
    if p.returncode != 0:
        detail = p.stderr.decode("utf-8", "replace").strip()[:300]
        raise MailError("%s failed with exit value %d%s" % (what, p.returncode, ": " + detail if detail else ""))


def send(msg, recipients):
    bad = [r for r in recipients if r.startswith("-")]
    if bad:
        # It would be taken for an option of the mail command.
        raise MailError("refusing mail address %r" % bad[0])
    how = transport(msg)
    if how == "sendmail":
        import shlex

        command = config.get("sendmail")
        _run(shlex.split(command) + list(recipients), msg.as_bytes(), "sendmail command %r" % command)
        return
    if how == "mail":
        command = local_mail_command()
        _run([command, "-s", msg["Subject"]] + list(recipients),
             msg.get_content().encode("utf-8"), "mail command %s" % command)
        return
    import smtplib

    host, port = config.get("smtp_host"), config.get_int("smtp_port")
    try:
        with smtplib.SMTP(host, port, timeout=config.get_float("mail_timeout")) as smtp:
            smtp.send_message(msg, from_addr=sender(), to_addrs=recipients)
    except (smtplib.SMTPException, OSError, socket.timeout) as e:
        raise MailError("SMTP delivery via %s:%d failed: %s" % (host, port, e))


def job_info(job_id, event, exit_value=None, reason=None):
    """The variables a mail talks about, from the job's ``job.env``."""
    info = parse_env(paths.job_file(job_id, "job.env"))
    info.setdefault("GSAT_O_JOBID", job_id)
    info.setdefault("GSAT_JOBNAME", read_first_line(paths.job_file(job_id, "job.name"), ""))
    info.setdefault("GSAT_O_HOST", read_first_line(paths.job_file(job_id, "job.execHost"), ""))
    info["GSAT_EVENT"] = event
    if exit_value is not None:
        info["GSAT_JOB_EXIT_VALUE"] = str(exit_value)
    if reason:
        info["GSAT_REASON"] = reason
    return info


def parse_env(path):
    """Read back a ``job.env`` written by :mod:`jobenv` (no shell involved).

    Each assignment is ``export NAME="VALUE"`` at the start of a line; a
    value may span lines and ``\\`` escapes the next character.  A line that
    is not such an assignment is skipped, and an assignment cut off before its
    closing quote (a file truncated by a full disk, say) is left out: a mail
    shows what was complete, never half a value.  Every step moves forward,
    so any text ends the loop.
    """
    from .fsutil import read_text

    text = read_text(path, "")
    out = {}
    i, n = 0, len(text)
    while i < n:
        end_of_line = text.find("\n", i)
        if end_of_line < 0:
            end_of_line = n
        eq = text.find('="', i, end_of_line)
        if not text.startswith("export ", i) or eq < 0:
            i = end_of_line + 1
            continue
        name = text[i + 7:eq]
        j = eq + 2
        value = []
        while j < n and text[j] != '"':
            if text[j] == "\\" and j + 1 < n:
                j += 1
            value.append(text[j])
            j += 1
        if j >= n:
            break
        out[name] = "".join(value)
        after = text.find("\n", j)
        i = n if after < 0 else after + 1
    return out


def wanted(job_id, point):
    points = read_first_line(paths.job_file(job_id, "job.mailPoints"), "")
    return bool(points) and points != "n" and point in points


def notify(job_id, event, exit_value=None, reason=None):
    """Send the per-job notice for ``event``; raises :class:`MailError`."""
    to = read_first_line(paths.job_file(job_id, "job.mailTo"), "")
    recipients = [a for a in to.split(",") if a] or default_recipients()
    info = job_info(job_id, event, exit_value, reason)
    send(compose(info, recipients), recipients)


def service_main(argv0, tarball_attached):
    """Body of ``libexec/services/mail`` and ``mailJobTarball``; ``argv0`` is
    the path the service was started as (in which service directory)."""
    import sys

    prog = os.path.basename(argv0)
    try:
        if not _linked_by_user(argv0) and not config.get_bool("mail_service"):
            return 0
        info = {k: v for k, v in os.environ.items() if k.startswith("GSAT_")}
        recipients = default_recipients()
        job_dir = None
        if tarball_attached and info.get("GSAT_O_WORKDIR"):
            job_dir = os.path.dirname(info["GSAT_O_WORKDIR"].rstrip("/"))
        send(compose(info, recipients, tarball_of=job_dir), recipients)
    except (MailError, config.ConfigError) as e:
        sys.stderr.write("%s: %s\n" % (prog, e))
        return 1
    return 0


def _linked_by_user(argv0):
    here = os.path.realpath(os.path.dirname(os.path.abspath(argv0)))
    return os.path.dirname(here) == os.path.realpath(os.path.join(paths.base(), "services"))
