"""nobatch: every queued job starts at once."""


def pick(queued, running):
    return list(queued)
