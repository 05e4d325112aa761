"""The wire vocabulary: every verb and answer, in one place.

A message is one line ``COMMAND;ANSWERBOX`` (PROTOCOL.md §2); the first word
of COMMAND is the verb.  A reply has the same form, ``ANSWER;SENDERBOX``.
Classic verbs and answers are spelled exactly as the bash tools spell them;
the new verbs (marked *new*) are only ever sent by the new tools.

========================  ===========  ==================================================
verb and arguments        handled by   answers
========================  ===========  ==================================================
ALIVE? / PID? / HOST?     everyone     YES / its PID / its host
CAPABILITIES?             gsatlc       *new*: the capabilities it understands (below)
STOP                      everyone     STOPPING, then it exits
QSUB PATH                 gsatlc       job id, or ``qsub failed``
QSUB -X=V... -- PATH      gsatlc       *new* form carrying gqsub options
QHOLD ID                  gsatlc       OK, ``qhold failed[: invalid job id]``
QRLS ID                   gsatlc       OK, ``qrls failed[: invalid job id]``
QDEL ID                   gsatlc       OK, ``qdel failed: running job|invalid job id``
QSIG SIGNAL ID            gsatlc       OK, ``qsig failed[: invalid job id]``
QWAIT ID FIFO HOST        gsatlc       *new*: OK, ``ENDED VALUE``, ``qwait failed...``
QUNWAIT ID FIFO HOST      gsatlc       *new*: OK
STARTED ID                gsatlc       (none; from sputnik)
TERMINATED ID EXIT        gsatlc       (none; from sputnik)
HELD ID                   gsatlc       (none; from sputnik: a held job's group is gone) (new)
HOLD                      sputnik      OK, ``HOLD FAILED``
SIGNAL SIGNAL             sputnik      OK, ``SIGNAL FAILED``
TRIGGER NAME ARGS         sputnik      *new*: OK, ``trigger failed: ...``
TRIGGER_WAIT NAME ARGS    sputnik      *new*: OK, FAILED (when the services ended)
JOB_TRIGGER ID NAME ARGS  sputnik      *new*: as TRIGGER, if it supervises job ID
JOB_TRIGGER_WAIT ID ...   sputnik      *new*: as TRIGGER_WAIT, if it supervises job ID
JOB_CHILD_PID PID         sputnik      (none; from a classic runner)
STARTED / TERMINATED EXIT sputnik      (none; from a classic runner)
SIGNAME PID               sigfwd       kill's exit code
DELEGATE_ACTION FILE      sigfwd       action id (0, 1, ...)
UNDELEGATE_ACTION ID      sigfwd       OK
WRITE_FIFO FIFO TEXT      sigfwd       *new*: 0 or 1
========================  ===========  ==================================================
"""


def digits(text):
    """True for a non-empty run of ASCII digits, a number as we write it:
    ``str.isdigit()`` alone takes ``'²'`` (which ``int()`` refuses) and the
    digits of other scripts (which a stored file or a message may hold)."""
    return text.isascii() and text.isdigit()


# standard commands
ALIVE, PID, HOST, STOP = "ALIVE?", "PID?", "HOST?", "STOP"
YES, STOPPING, UNKNOWN, OK = "YES", "STOPPING", "UNKNOWN COMMAND", "OK"

# controller
CAPABILITIES = "CAPABILITIES?"
# What a Python controller understands beyond the classic protocol: the QSUB
# form carrying gqsub's options (and the script directives other than -T),
# and QWAIT/QUNWAIT.  A classic controller answers CAPABILITIES? with
# UNKNOWN COMMAND and writes no gsatlcCapabilities file.
QSUB_OPTIONS, WAIT = "QSUB-OPTIONS", "QWAIT"
# QSUB options -i=TOKEN (inputs gqsub put in the stage-in spool) and
# -O=FILE:DEST (stage-out requests): docs/staging.md.
STAGE = "QSUB-STAGE"
# QSUB option --proxy=FILE and the directive #GSAT --proxy FILE (the job's
# X.509 proxy, docs/guide.md): a controller without it would fail or ignore them.
PROXY = "QSUB-PROXY"
CONTROLLER_CAPABILITIES = (QSUB_OPTIONS, WAIT, STAGE, PROXY)
QSUB, QHOLD, QRLS, QDEL, QSIG = "QSUB", "QHOLD", "QRLS", "QDEL", "QSIG"
QWAIT, QUNWAIT, STARTED, TERMINATED = "QWAIT", "QUNWAIT", "STARTED", "TERMINATED"
HELD = "HELD"
ENDED = "ENDED"
QSUB_FAILED = "qsub failed"
RUNNING_JOB = "qdel failed: running job"

# sputnik
HOLD, SIGNAL, JOB_CHILD_PID = "HOLD", "SIGNAL", "JOB_CHILD_PID"
TRIGGER, TRIGGER_WAIT = "TRIGGER", "TRIGGER_WAIT"
JOB_TRIGGER, JOB_TRIGGER_WAIT = "JOB_TRIGGER", "JOB_TRIGGER_WAIT"
HOLD_FAILED, SIGNAL_FAILED, FAILED = "HOLD FAILED", "SIGNAL FAILED", "FAILED"

# Answers that a daemon never takes for a request: UNKNOWN COMMAND, and those
# that read as a verb with an argument.
ANSWERS_NOT_REQUESTS = frozenset((UNKNOWN, HOLD_FAILED, SIGNAL_FAILED))

# sigfwd
DELEGATE_ACTION, UNDELEGATE_ACTION, WRITE_FIFO = "DELEGATE_ACTION", "UNDELEGATE_ACTION", "WRITE_FIFO"
WRITE_FIFO_OK, WRITE_FIFO_FAILED = "0", "1"

# what a gqwait reads from its FIFO: ``ID VALUE`` or ``ID DELETED``
DELETED = "DELETED"


def failed(verb):
    """``qhold failed`` for QHOLD, and so on."""
    return "%s failed" % verb.lower()


def invalid_id(verb):
    """``qhold failed: invalid job id`` for QHOLD, and so on."""
    return "%s failed: invalid job id" % verb.lower()


def quote_word(text):
    """Make ``text`` one message word: ``%``, ``;`` and every white-space or
    control character become ``%XX`` per UTF-8 byte (``%00`` alone stands
    for the empty string)."""
    if text == "":
        return "%00"
    out = []
    for c in text:
        if c in "%;" or c.isspace() or ord(c) < 32:
            out.append("".join("%%%02X" % b for b in c.encode("utf-8", "surrogateescape")))
        else:
            out.append(c)
    return "".join(out)


_NAMED_CONTROLS = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text):
    """``text`` with every control character (C0, DEL, C1) written as
    ``\\n``, ``\\r``, ``\\t`` or ``\\xHH``: safe to show on a terminal and to
    keep on one line of a record file."""
    if text.isprintable():  # the common case, checked in C
        return text
    out = []
    for c in text:
        o = ord(c)
        if o < 32 or 127 <= o < 160:
            out.append(_NAMED_CONTROLS.get(c) or "\\x%02x" % o)
        else:
            out.append(c)
    return "".join(out)


def unquote_word(word):
    if word == "%00":
        return ""
    data = bytearray()
    i = 0
    while i < len(word):
        if word[i] == "%" and len(word[i + 1:i + 3]) == 2:
            try:
                data.append(int(word[i + 1:i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        data.extend(word[i].encode("utf-8", "surrogateescape"))
        i += 1
    return data.decode("utf-8", "surrogateescape")


def command(verb, *args):
    return " ".join((verb,) + tuple(str(a) for a in args))


def message(text, box):
    return "%s;%s" % (text, box or "")


def split(msg):
    """``"CMD;BOX"`` -> ``("CMD", "BOX")``; the box is empty when absent."""
    text, sep, rest = msg.partition(";")
    box = rest.split(";", 1)[0] if sep else ""
    return text, box


# -- the classic runner's messages to its sputnik (no answer wanted) ----------

def runner_child_pid(pid):
    return message(command(JOB_CHILD_PID, pid), "")


def runner_started():
    return message(STARTED, "")


def runner_terminated(value):
    return message(command(TERMINATED, value), "")


def parse_child_pid(args):
    """``JOB_CHILD_PID``'s argument -> a PID, or None if it is not one."""
    args = args.strip()
    return int(args) if digits(args) and int(args) > 0 else None


def parse_runner_exit(args):
    """``TERMINATED EXIT`` from a runner -> the exit value (1 if garbled)."""
    return exit_value(args.strip())


# -- signal forwarding (PROTOCOL.md §3) -----------------------------------------

def forward_signal(signal_name, pid):
    """``SIGCONT 4711;``: asks a host's signal forwarder, no answer wanted."""
    return message(command(signal_name, pid), "")


# -- gqwait: FIFO lines and their relay through a signal forwarder -------------

def fifo_line(job_id, value):
    """``00001 0``, or ``00001 DELETED`` (``value`` = :data:`DELETED`)."""
    return "%s %s" % (job_id, value)


def parse_fifo_line(line):
    """``(job_id, value)`` with value an int exit value or :data:`DELETED`;
    None for a line that is not one of ours."""
    words = line.split()
    if len(words) != 2:
        return None
    job_id, value = words
    if value == DELETED:
        return job_id, DELETED
    return job_id, int(value) if digits(value) else 1


def write_fifo(fifo, line):
    """``WRITE_FIFO FIFO LINE;`` to the forwarder of the waiter's host."""
    return message(command(WRITE_FIFO, fifo, line), "")


def parse_write_fifo(args):
    """``WRITE_FIFO``'s arguments -> ``(fifo, line)``."""
    fifo, _, line = args.partition(" ")
    return fifo, line


# -- controller, sputnik and job types: arguments and answers -----------------
# (parse_* return None for a malformed argument string; the caller answers
# its verb's failure.)

# A job type's verdict on an exit value (jobtypes): run it again, or end it.
RESTART, TERMINATE = "RESTART", "TERMINATE"


def capabilities_line(pid, host, capabilities=CONTROLLER_CAPABILITIES):
    """The one line of ``gsatlcCapabilities``: ``PID HOST CAPABILITY...``."""
    return command(str(pid), host, *capabilities)


def parse_capabilities_line(line, pid, host):
    """The capabilities ``line`` names for the controller ``pid`` on ``host``;
    None when it names another process (a stale file)."""
    words = line.split()
    if len(words) < 2 or words[0] != str(pid) or words[1] != host:
        return None
    return frozenset(words[2:])


def qsub(path, encoded_options=""):
    """``QSUB PATH`` (classic), or ``QSUB -X=V... -- PATH`` with gqsub options."""
    return command(QSUB, encoded_options, "--", path) if encoded_options else command(QSUB, path)


def parse_qsub(args):
    """``(encoded_options, path)``; ``encoded_options`` is "" for the classic form."""
    if args.startswith("-") and " -- " in args:
        encoded, _, path = args.partition(" -- ")
        return encoded, path
    return "", args


def parse_qsig(args):
    """``QSIG SIGNAL ID`` arguments -> ``(signal, id_text)``."""
    words = args.split()
    return (words[0], words[1]) if len(words) == 2 else None


def parse_qwait(args):
    """``QWAIT ID FIFO HOST`` (and QUNWAIT) arguments -> ``(id_text, fifo, host)``."""
    words = args.split()
    return tuple(words) if len(words) == 3 else None


def ended(value):
    """QWAIT's answer for a job that has already ended."""
    return command(ENDED, value)


def started(job_id):
    return command(STARTED, job_id)


def parse_started(args):
    return args.strip()


def held(job_id):
    return command(HELD, job_id)


def terminated(job_id, value):
    return command(TERMINATED, job_id, value)


def exit_value(word):
    """An exit value word; anything but a number counts as 1 (a failure)."""
    return int(word) if word is not None and digits(word) else 1


def parse_terminated(args):
    """``TERMINATED ID EXIT`` arguments -> ``(id_text, exit_value)``, or None."""
    words = args.split()
    if not words:
        return None
    return words[0], exit_value(words[1] if len(words) > 1 else None)


def signal_request(name):
    """What gsatlc asks a sputnik for ``QSIG NAME ID``."""
    return command(SIGNAL, name)


def parse_signal(args):
    words = args.split()
    return words[0] if words else None




def trigger_failed(problem):
    return "trigger failed: %s" % problem
