"""Client operations that only read the job store: they need no controller
(and so no transport), which keeps gqstat's start-up small."""

import time

from .. import job, states
from .errors import InvalidJobId, UnknownState
from ..protocol import digits


def find_job(text):
    """The :class:`~gsatellite.job.Job` named by ``text``; :class:`InvalidJobId`."""
    found = job.find(text)
    if found is None:
        raise InvalidJobId(text)
    return found


def status(text=None, state=None, job_type=None):
    """Views of the jobs to list: all, or job ``text``; only those in ``state``
    and of ``job_type`` when given.  Needs no controller."""
    if state is not None and not states.is_state(state):
        raise UnknownState(state)
    if text is None:
        return job.jobs(state, job_type)
    target = find_job(text)
    if state is not None and target.id not in job.ids(state):
        return []
    if job_type is not None and target.text("job.type") != job_type:
        return []
    return [target]


def table(state=None, job_type=None):
    """What gqstat's table lists: :func:`gsatellite.job.listing` of the jobs
    in ``state`` and of ``job_type`` when given.  Needs no controller."""
    if state is not None and not states.is_state(state):
        raise UnknownState(state)
    return job.listing(state, job_type)


def ended_jobs(wanted=states.ENDED, older_than=None, now=None, damaged=None):
    """Ids of jobs in the ended states ``wanted`` that ended at least
    ``older_than`` seconds ago (all of them when None), sorted.  A damaged
    job is left out; ``damaged(job_id, problem)`` is told about it."""
    now = time.time() if now is None else now
    found = []
    for state in wanted:
        for job_id in job.ids(state):
            view = job.Job(job_id)
            problem = view.damage()
            if problem is not None:
                if damaged is not None:
                    damaged(job_id, problem)
                continue
            if digits(job_id) and view.state == state and (
                    older_than is None or now - view.ended_at() >= older_than):
                found.append(job_id)
    return sorted(found)
