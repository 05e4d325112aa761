"""QSUB: checking a submission, copying the job script, publishing the job.

A job id is handed out when the request is read, so ids follow the order of
submissions.  The script is copied into the job's staging directory
(``jobs/.ID.d.new``) with a size limit (``max_job_size``): a small script
right away, in the loop, when no other copy is under way; any other in the
copier's worker thread (:mod:`.copier`), while the loop serves other
requests.  The loop then renames the job into place and answers its id.
A crash before the rename leaves only the staging directory, which the next
controller removes, and the submitter finds no job with its answer box
(``job.submitBox``): nothing was submitted.

A ``-o``/``-e`` path that is a directory at submission means, as in PBS,
the file ``NAME.oID`` / ``NAME.eID`` in it (NAME the job's name, ID its id).

Stage in/out (:mod:`gsatellite.staging`): the controller never reads a
user's input file.  ``-i=TOKEN`` names the inputs gqsub put into the spool;
they are renamed into the staging directory and checked there before the
job is published.  Stage-out requests (``-O=FILE:DEST``) are taken from the
request only: a script's ``#GSAT -i``/``-O`` are gqsub's to read (it knows
the directory it runs in and can read the inputs).

A proxy (``--proxy=FILE`` or the script's ``#GSAT --proxy FILE``) is
checked here too: the job runs on this host and its proxy is watched here,
so a file gqsub could read but this host cannot is refused, not queued.
"""

import os
import stat

from .. import conditions, directives, jobtypes, proxy, staging
from .. import protocol as P
from ..fsutil import read_bytes
from ..log import log

# Job options recorded in the job directory at submission.
OPTION_FILES = {
    "-m": "job.mailPoints",
    "-M": "job.mailTo",
    "-o": "job.stdoutPath",
    "-e": "job.stderrPath",
    "-a": "job.startAfter",
    "-W": "job.depend",
    directives.PROXY: proxy.REQUEST,
}
# Scripts up to this size are copied in the loop (a few milliseconds at
# most); larger ones in the worker.
INLINE_COPY = 256 * 1024


def output_files(attrs, name, job_id):
    """PBS: an output path naming a directory gets ``NAME.oID``/``NAME.eID``."""
    for attr, letter in (("job.stdoutPath", "o"), ("job.stderrPath", "e")):
        dest = attrs.get(attr)
        if dest and os.path.isdir(dest):
            attrs[attr] = os.path.join(dest, "%s.%s%s" % (name, letter, job_id))


class Submission:
    """Mixin of the Controller: uses ``store``, ``copier``, ``max_job_size``,
    ``unconditional``, ``submissions``, ``need_schedule``, ``now``."""

    inline_copy = INLINE_COPY

    def qsub(self, args, box):
        """``QSUB PATH`` (classic) or ``QSUB -X=V ... -- PATH`` (with gqsub options)."""
        encoded, job = P.parse_qsub(args)
        overrides = {}
        if encoded:
            try:
                overrides = directives.decode(encoded)
            except directives.DirectiveError as e:
                log("QSUB refused: %s" % e)
                return P.QSUB_FAILED
        tokens = overrides.pop(staging.IN, [])
        if len(tokens) > 1:
            log("QSUB refused: more than one stage-in token")
            return P.QSUB_FAILED
        if not job.startswith("/") or "\n" in job:
            log("QSUB refused: not an absolute path: %r" % job)
            return P.QSUB_FAILED
        try:
            st = os.stat(job)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode) or not os.access(job, os.R_OK):
            log("QSUB refused: %s is not a readable file" % job)
            return P.QSUB_FAILED
        if st.st_size > self.max_job_size:
            log("QSUB %s refused: %d bytes, more than max_job_size (%d)" % (job, st.st_size, self.max_job_size))
            return P.QSUB_FAILED
        # At most one byte more than the copy takes; a small script's copy
        # writes these bytes, the ones its directives come from.
        script = read_bytes(job, None, self.max_job_size + 1)
        try:
            opts = directives.options(directives.parse(script), os.path.dirname(job), overrides, warn=log)
            for _kind, ids in conditions.parse_depend("depend=" + opts["-W"]) if "-W" in opts else ():
                for dep in ids:
                    if not self.store.exists(dep):
                        raise directives.DirectiveError("dependency on unknown job %s" % dep)
        except directives.DirectiveError as e:
            log("QSUB %s refused: %s" % (job, e))
            return P.QSUB_FAILED
        for option in staging.OPTIONS:
            if option in opts and option not in overrides and not (option == staging.IN and tokens):
                log("QSUB %s: '#GSAT %s' ignored: stage in/out comes from gqsub's request only" % (job, option))
        if directives.PROXY in opts:
            try:
                proxy.check_file(opts[directives.PROXY])
            except proxy.ProxyError as e:
                log("QSUB %s refused: %s" % (job, e))
                return P.QSUB_FAILED
        job_type = opts.get("-T") if jobtypes.is_known(opts.get("-T")) else jobtypes.DEFAULT
        attrs = {attr: opts[option] for option, attr in OPTION_FILES.items() if option in opts}
        if staging.OUT in overrides:
            try:
                requests = staging.requests(opts[staging.OUT], os.path.dirname(job))
            except staging.StageError as e:
                log("QSUB %s refused: %s" % (job, e))
                return P.QSUB_FAILED
            attrs[staging.REQUESTS] = staging.encode_requests(requests)
        if "job.startAfter" in attrs:
            attrs["job.startAfter"] = attrs["job.startAfter"].lstrip("@")
        attrs["job.submitted"] = int(self.now())
        if box:
            attrs["job.submitBox"] = box
        name = opts.get("-N") or os.path.basename(job)
        conditional = "-a" in opts or "-W" in opts
        job_id = None
        try:
            job_id, warning = self.store.new_id()
            if warning:
                log(warning)
            output_files(attrs, name, job_id)
            if tokens:
                attrs[staging.INPUTS] = "\n".join(staging.receive(tokens[0], job_id, name, *staging.limits()))
            self.store.stage(job_id, name, job_type, attrs)
        except (OSError, staging.StageError) as e:
            log("QSUB %s failed: %s" % (job, e))
            if job_id is not None:
                self.store.discard_staging(job_id)
            return P.QSUB_FAILED

        def copy(data=None):
            self.store.copy_script(job_id, job, name, self.max_job_size, data=data)

        def finish(error):
            # As JobStore.read would give them back.
            request = attrs.get(proxy.REQUEST)
            stored = {"job.type": job_type, proxy.REQUEST: None if request is None else request.rstrip("\n")}
            return self.submitted(job_id, job, name, conditional, error, stored)

        if st.st_size <= self.inline_copy and not self.copier.busy():
            try:
                # The bytes read: a small script is copied as its
                # directives were read.  One left to the worker is read
                # again there, not held while others wait (each up to
                # max_job_size).
                copy(script)
            except OSError as e:
                return finish(e)
            return finish(None)
        self.submissions[job_id] = box
        self.copier.submit(copy, lambda error: self.reply(self.submissions.pop(job_id, ""), finish(error)))
        return None

    def submitted(self, job_id, job, name, conditional, error, stored=None):
        """Publish a copied job; returns the answer for its submitter.
        ``stored``: its type and proxy request as staged (for the proxy
        watch, which need not read them back)."""
        if error is None:
            try:
                self.store.publish(job_id, name)
            except OSError as e:
                error = e
        if error is not None:
            log("QSUB %s failed: %s" % (job, error))
            self.store.discard_staging(job_id)
            return P.QSUB_FAILED
        if not conditional:
            self.unconditional.add(job_id)
        self.need_schedule = True
        log("job %s submitted: %s" % (job_id, job))
        self.proxy_register(job_id, stored=stored)
        return job_id

    def abandon_submissions(self):
        """At shutdown: submissions still being copied are not made; their
        submitters are told so."""
        self.copier.close()
        for job_id, box in self.submissions.items():
            log("job %s: submission abandoned at shutdown" % job_id)
            self.store.discard_staging(job_id)
            self.reply(box, P.QSUB_FAILED)
        self.submissions.clear()
