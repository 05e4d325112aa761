"""The controller's verbs (PROTOCOL.md §1, §5), QSUB aside (:mod:`.submission`).

Each handler gets ``(args, reply_to)`` and returns the exact classic answer,
or None when there is none now.  Nothing here waits: a request that needs a
job's sputnik (QHOLD, QSIG of a running job) is sent with
:meth:`Daemon.ask`, and the client is answered when the sputnik answers, or
with the verb's failure when ``sputnik_timeout`` passes, the sputnik goes
away, or it never wrote its PID.  A sputnik on this host is asked only when
``sputnik.pid`` still names it (:mod:`gsatellite.pidref`).

Held means stopped: a running job becomes held when its sputnik answers the
HOLD (it does once the job's processes are gone, ``hold_grace`` seconds at
most plus the SIGKILL) or tells ``HELD ID``, whichever comes first; until
then it stays running and keeps its slot, so QRLS cannot start a second
copy.  A HOLD the sputnik has read gets ``hold_grace`` seconds beyond
``sputnik_timeout``.
"""

from .. import events, paths, pidref, states, waiters
from .. import protocol as P
from .. import transport
from ..transport import wake
from ..jobstore import InvalidJobId, canonical_id
from ..log import log
from ..protocol import digits

# Seconds a just-started sputnik gets to write sputnik.pid, and between two
# looks for it.
PID_WAIT = 2.0
PID_RETRY = 0.02
# Seconds between two checks that an asked sputnik still exists.
WATCH = 0.5
# Sputniks a QHOLD is sent to, one after another, when the job is adopted
# on the way.
HOLD_ASKS = 3


class Handlers:
    """Mixin of the Controller: uses ``store``, ``bus``, ``system``,
    ``holds``, ``sputnik_timeout``, ``host``, the daemon's timers and ``ask``."""

    def _job(self, text):
        return self.store.resolve_id(text.strip())

    def qhold(self, args, box):
        try:
            job_id = self._job(args)
        except InvalidJobId:
            return P.invalid_id(P.QHOLD)
        self.proxy_user_hold(job_id)
        state = self.store.state(job_id)
        if state == states.HELD:
            return P.OK
        if state == states.QUEUED:
            self.store.transition(job_id, states.HELD)
            return P.OK
        if state != states.RUNNING:
            return P.failed(P.QHOLD)
        if job_id in self.holds:
            # One HOLD to the sputnik; every client gets its outcome.
            self.holds[job_id].append(box)
            return None
        self.holds[job_id] = [box]
        self._ask_hold(job_id, HOLD_ASKS, self.clock() + self.answer_timeout)
        return None

    def _ask_hold(self, job_id, tries, clients_wait_until):
        asked = (self.store.read(job_id, "sputnik.pid", "") or "").strip()
        run = self.store.read(job_id, "job.start", "")

        def answered(answer):
            current = (self.store.read(job_id, "sputnik.pid", "") or "").strip()
            # A new ask may take its sputnik's time and the hold's grace:
            # only if the clients still wait for the answer by then (else
            # they would be told nothing of a hold carried out after all).
            in_time = self.clock() + self.sputnik_timeout + self.hold_grace + WATCH < clients_wait_until
            if (answer is None and tries > 1 and in_time and current and current != asked
                    and self.store.state(job_id) == states.RUNNING
                    and self.store.read(job_id, "job.start", "") == run):
                # Its sputnik was lost on the way and the same run, still
                # going, adopted (a new run is not the one to hold): the
                # new sputnik is asked.
                log("job %s: HOLD goes to sputnik %s, which adopted the job" % (job_id, current))
                self._ask_hold(job_id, tries - 1, clients_wait_until)
                return
            result = self.hold_answered(job_id, answer, asked)
            for client in self.holds.pop(job_id, ()):
                self.reply(client, result)

        self.ask_sputnik(job_id, P.HOLD, answered, patience=self.hold_grace + WATCH)

    def hold_answered(self, job_id, answer, asked=""):
        if answer is None and self.store.state(job_id) == states.HELD:
            return P.OK  # its sputnik was lost on the way, the job held (job_ended)
        if answer != P.OK:
            log("job %s: not held: sputnik answered %r" % (job_id, answer))
            return P.failed(P.QHOLD)
        state = self.store.state(job_id)
        current = (self.store.read(job_id, "sputnik.pid", "") or "").strip()
        if state == states.QUEUED or (state == states.RUNNING and asked and current != asked):
            # The sputnik asked held the job and said so first (HELD); a
            # release came before this answer, maybe a new run too: the
            # hold was carried out, and the new run is not the one held.
            return P.OK
        return self.mark_held(job_id)

    def mark_held(self, job_id):
        """The job's processes are gone after a hold: it is held now."""
        state = self.store.state(job_id)
        if state != states.RUNNING:
            return P.OK if state == states.HELD else P.failed(P.QHOLD)
        self.store.transition(job_id, states.HELD, events.JOB_ABORT, reason="held while running")
        self.need_schedule = True
        return P.OK

    def held(self, args, box):
        """``HELD ID`` from a sputnik: the held job's group is gone."""
        job_id = canonical_id(args.strip())
        if job_id and self.store.exists(job_id) and self.store.state(job_id) == states.RUNNING:
            if not box or transport.owner(box) is None or not self.from_supervisor(job_id, box):
                # A stranger's (no classic sputnik sends HELD: a report
                # without a sputnik's box is none), or a late one of a
                # sputnik whose run was released and started again since:
                # the job still runs.
                log("HELD %s ignored: the report is not from its sputnik" % job_id)
                return None
            log("job %s: its sputnik reports it held" % job_id)
            self.mark_held(job_id)
        return None

    def qrls(self, args, box):
        try:
            job_id = self._job(args)
        except InvalidJobId:
            return P.invalid_id(P.QRLS)
        if self.store.state(job_id) != states.HELD:
            return P.failed(P.QRLS)
        self.proxy_user_hold(job_id)
        self.store.transition(job_id, states.QUEUED)
        self.need_schedule = True
        return P.OK

    def qdel(self, args, box):
        try:
            job_id = self._job(args)
        except InvalidJobId:
            return P.invalid_id(P.QDEL)
        self.unconditional.discard(job_id)
        if self.store.state(job_id) == states.RUNNING:
            return P.RUNNING_JOB
        self.store.remove(job_id)
        log("job %s deleted" % job_id)
        return P.OK

    def qsig(self, args, box):
        parsed = P.parse_qsig(args)
        if parsed is None:
            return P.failed(P.QSIG)
        name, text = parsed
        try:
            job_id = self._job(text)
        except InvalidJobId:
            return P.invalid_id(P.QSIG)
        try:
            wake.signal_number(name)
        except ValueError:
            return P.failed(P.QSIG)
        if self.store.state(job_id) != states.RUNNING:
            return P.failed(P.QSIG)

        def answered(answer):
            if answer != P.OK:
                log("job %s: signal %s not sent: sputnik answered %r" % (job_id, name, answer))
            self.reply(box, P.OK if answer == P.OK else P.failed(P.QSIG))

        self.ask_sputnik(job_id, P.signal_request(name), answered)
        return None

    def qwait(self, args, box):
        """``QWAIT ID FIFOPATH HOST``: register a gqwait; ``ENDED VALUE`` if
        the job has already ended."""
        parsed = P.parse_qwait(args)
        if parsed is None or not waiters.valid_fifo_path(parsed[1]) or not transport.valid_host(parsed[2]):
            return P.failed(P.QWAIT)
        text, fifo, host = parsed
        try:
            job_id = self._job(text)
        except InvalidJobId:
            return P.invalid_id(P.QWAIT)
        if self.store.state(job_id) in states.ENDED:
            return P.ended(self.exit_value(job_id))
        waiters.add(job_id, host, fifo)
        return P.OK

    def qunwait(self, args, box):
        parsed = P.parse_qwait(args)
        if parsed is None:
            return P.failed(P.QUNWAIT)
        text, fifo, host = parsed
        job_id = canonical_id(text)
        if job_id and self.store.exists(job_id):
            waiters.remove(job_id, host, fifo)
        return P.OK

    def started(self, args, box):
        job_id = canonical_id(P.parse_started(args))
        if job_id and self.store.exists(job_id):
            self.bus.emit(events.JOB_START, job_id)
        return None

    def terminated(self, args, box):
        parsed = P.parse_terminated(args)
        job_id = canonical_id(parsed[0]) if parsed else None
        self.free_sputnik(job_id, box)
        if not job_id or not self.store.exists(job_id):
            log("TERMINATED for unknown job %r" % args)
            return None
        value = parsed[1]
        state = self.store.state(job_id)
        if state != states.RUNNING and self.late_report(job_id, box):
            log("job %s: its host was taken for lost, but its sputnik reports exit %d; taken" % (job_id, value))
            self.store.write(job_id, "job.reason", "")
            self.job_ended(job_id, value, was=state)
            return None
        if state != states.RUNNING or not self.from_supervisor(job_id, box):
            log("TERMINATED %s %d ignored: job is %s%s" % (
                job_id, value, state, "" if state != states.RUNNING else ", and the report is not from its sputnik"))
            return None
        self.job_ended(job_id, value, was=state)
        return None

    def free_sputnik(self, job_id, box):
        """The sputnik that tells the end of the job we know it supervises
        is free for the next job (:meth:`System.retire`), whatever becomes
        of the report: it waits for the next job or for the end of its pipe."""
        found = transport.owner(box) if box and job_id else None
        if found is None or found[0] != self.host or self.sputniks.get(found[1]) != job_id:
            return
        del self.sputniks[found[1]]
        self.system.retire(found[1])
        self.need_schedule = True

    # -- asking a job's sputnik ---------------------------------------------------
    def ask_sputnik(self, job_id, command, on_answer, patience=0.0):
        """Send ``command`` to the job's sputnik; ``on_answer(answer)`` is
        called once, from the loop: with None when no answer can come."""
        start = self.clock()
        deadline = start + self.sputnik_timeout
        pending = {"done": False, "watch": None}

        def finish(answer):
            if pending["done"]:
                return
            pending["done"] = True
            self.cancel(pending["watch"])
            on_answer(answer)

        def attempt():
            pid = (self.store.read(job_id, "sputnik.pid", "") or "").strip()
            host = (self.store.read(job_id, "job.execHost", "") or "").strip()
            if not digits(pid) and self.clock() < min(start + PID_WAIT, deadline):
                # Just started: the sputnik has not written its PID yet.
                self.call_later(PID_RETRY, attempt)
                return
            if not digits(pid) or not host:
                log("job %s: no sputnik to send %s to" % (job_id, command))
                finish(None)
                return
            if host == self.host and self.system.process(
                    paths.job_file(job_id, "sputnik.pid"), pidref.SPUTNIK) is None:
                log("job %s: sputnik.pid names no sputnik of ours (%s); %s not sent" % (job_id, pid, command))
                finish(None)
                return
            try:
                address = transport.process_address(int(pid), host)
            except transport.BadAddress as e:
                log("job %s: cannot address its sputnik: %s" % (job_id, e))
                finish(None)
                return

            def watch():
                if self.sputnik_gone(int(pid), host, address):
                    if pending.get("gone"):
                        log("job %s: sputnik %s on %s is gone; %s unanswered" % (job_id, pid, host, command))
                        finish(None)
                        return
                    # A sputnik answers, then leaves (a held job's): its
                    # answer may still wait in another of our inboxes, as
                    # timers run between messages.  One more look first.
                    pending["gone"] = True
                pending["watch"] = self.call_later(WATCH, watch)

            pending["watch"] = self.call_later(WATCH, watch)
            self.ask(address, command, finish, max(0.0, deadline - self.clock()), patience)

        attempt()

    def sputnik_gone(self, pid, host, address):
        if not transport.exists(address):
            return True
        return host == self.host and not self.system.alive(pid)
