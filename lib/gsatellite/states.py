"""Job states and the events a state change means (dependency-free)."""

QUEUED = "queued"
RUNNING = "running"
HELD = "held"
FINISHED = "finished"
FAILED = "failed"

ALL = (QUEUED, RUNNING, HELD, FINISHED, FAILED)
ENDED = (FINISHED, FAILED)


def is_state(word):
    return word in ALL
