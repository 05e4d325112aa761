"""Typed errors of the client library: a one-line ``message`` and the
``exit_code`` the command exits with (COMMANDS.md)."""


EX_FAIL = 1
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_TIMEOUT = 124
EX_INTERRUPTED = 130



class ClientError(Exception):
    """An operation failed: ``message`` (one line) and the ``exit_code``."""

    exit_code = EX_FAIL

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def line(self, prog):
        """The line a command prints on stderr."""
        return "%s: %s" % (prog, self.message)


# The classic clients' words, which users' scripts may look for.
NOT_RUNNING = "gsatlc is not running. Start it with `gsatlcd --start'."


class NotRunning(ClientError):
    exit_code = EX_UNAVAILABLE

    def __init__(self):
        super().__init__(NOT_RUNNING)


class InvalidJobId(ClientError):
    def __init__(self, text):
        super().__init__('Invalid job id "%s"!' % text)
        self.text = text


class UnknownState(ClientError):
    def __init__(self, state):
        super().__init__("Unknown job state -- '%s'." % state)


class BadJobFile(ClientError):
    """A job file (or option) that cannot be submitted; nothing was queued."""


class WrongState(ClientError):
    """The job is not in a state the operation applies to; nothing was sent."""


class NotHeld(WrongState):
    def __init__(self, text):
        super().__init__('qrls failed! Job "%s" not in held state!' % text)

    def line(self, prog):
        return "%s[gsatellite/interface]: %s" % (prog, self.message)


class Refused(ClientError):
    """The controller answered with a refusal; ``answer`` is its answer."""

    def __init__(self, verb, answer):
        super().__init__("%s failed! (%s)" % (verb.lower(), answer))
        self.answer = answer


class NoAnswer(ClientError):
    """No answer.  ``withdrawn``: the request was taken back unread and can
    never take effect; otherwise the controller received it and it may
    still take (or have taken) effect."""

    exit_code = EX_UNAVAILABLE

    def __init__(self, message, withdrawn=False, exit_code=None):
        super().__init__(message, exit_code)
        self.withdrawn = withdrawn


class Unreachable(ClientError):
    exit_code = EX_UNAVAILABLE


class JobDeleted(ClientError):
    def __init__(self, job_id):
        super().__init__("job %s was deleted" % job_id)




class TimedOut(ClientError):
    exit_code = EX_TIMEOUT

    def __init__(self):
        super().__init__("timed out")
