"""nobatch: every queued job starts at once."""


def pick(queued, running, slots):
    return list(queued)
