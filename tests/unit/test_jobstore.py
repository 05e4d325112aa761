"""Unit tests of the job store (lib/gsatellite/jobstore.py), in process.

``$HOME`` points at a temporary directory and :func:`paths.reset` drops the
cached base, so every test works on its own fresh ``G/gschedule``.  Crash
points of :meth:`JobStore.set_state` are simulated by writing the files a
crash would leave behind by hand, then calling :meth:`JobStore.reconcile`.
"""

import os

import pytest

from gsatellite import events, paths, states
from gsatellite.jobstore import InvalidJobId, JobStore, canonical_id


@pytest.fixture
def store(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    paths.reset()
    s = JobStore()
    s.ensure()
    yield s
    paths.reset()


def _counter():
    with open(paths.next_job_id_file()) as f:
        return f.read()


def _links(job_id):
    """States whose directory holds a link for the job."""
    return [s for s in states.ALL if os.path.lexists(paths.state_link(s, job_id))]


def _job_file(tmp_path, name="work.job", body="#!/bin/bash\necho hi\n"):
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def _new_job(store, tmp_path, state=states.QUEUED, name="work.job"):
    job_id, _ = store.new_id()
    store.create(job_id, _job_file(tmp_path, name), "default")
    if state != states.QUEUED:
        store.set_state(job_id, state, notify=False)
    return job_id


# -- ids ----------------------------------------------------------------------

def test_ensure_creates_layout_and_zero_counter(store):
    base = paths.gschedule_dir()
    for d in ("jobs",) + states.ALL:
        assert os.path.isdir(os.path.join(base, d)), d
    assert _counter() == "0\n"


def test_new_id_pads_and_advances_counter(store):
    got = [store.new_id() for _ in range(3)]
    assert got == [("00000", None), ("00001", None), ("00002", None)]
    assert _counter() == "3\n"
    for job_id, _ in got:
        # Built in a hidden staging directory; not a job until create().
        assert os.path.isdir(paths.job_staging_dir(job_id))
        assert not os.path.lexists(paths.job_dir(job_id))
    assert store.ids() == []


def test_new_id_beyond_five_digits(store, tmp_path):
    with open(paths.next_job_id_file(), "w") as f:
        f.write("99999\n")
    assert _new_job(store, tmp_path) == "99999"
    assert _new_job(store, tmp_path) == "100000"
    assert _counter() == "100001\n"
    assert store.ids() == ["99999", "100000"]
    assert store.ids(states.QUEUED) == ["99999", "100000"]


@pytest.mark.parametrize("garbage", ["garbage\n", "", "-3\n", "1.5\n"])
def test_corrupt_counter_is_repaired_from_highest_id(store, tmp_path, garbage):
    for _ in range(3):
        _new_job(store, tmp_path)
    with open(paths.next_job_id_file(), "w") as f:
        f.write(garbage)
    job_id, warning = store.new_id()
    assert job_id == "00003"
    assert warning and "corrupt" in warning
    assert _counter() == "4\n"


def test_missing_counter_with_no_jobs_starts_at_zero(store):
    os.unlink(paths.next_job_id_file())
    assert store.new_id()[0] == "00000"


def test_counter_behind_existing_job_never_reuses_an_id(store, tmp_path):
    for _ in range(3):
        _new_job(store, tmp_path)
    with open(paths.next_job_id_file(), "w") as f:
        f.write("1\n")
    job_id, warning = store.new_id()
    assert job_id == "00003"
    assert warning is not None
    assert _counter() == "4\n"


@pytest.mark.parametrize("text,want", [
    ("7", "00007"), ("00007", "00007"), ("0", "00000"), ("12345", "12345"),
    ("123456", "123456"), ("007", "00007"),
])
def test_canonical_id_accepts_numbers(text, want):
    assert canonical_id(text) == want


@pytest.mark.parametrize("text", [
    "../x", "../../x", "", "abc", "-1", "+1", " 7", "7 ", "1e3", "0x1", "00001.d",
    "٣",  # an Arabic-Indic digit: isdigit() but not a job number
    "1/2", None, 7,
])
def test_canonical_id_rejects_non_numbers(text):
    assert canonical_id(text) is None


def test_resolve_id_needs_an_existing_job(store, tmp_path):
    job_id = _new_job(store, tmp_path)
    assert store.resolve_id("0") == job_id
    for text in ("1", "../jobs/00000", "abc", ""):
        with pytest.raises(InvalidJobId):
            store.resolve_id(text)


# -- job directory -----------------------------------------------------------

def test_create_fills_job_directory_and_queues_it(store, tmp_path):
    src = _job_file(tmp_path, "my job.sh", "#!/bin/bash\nexit 0\n")
    job_id, _ = store.new_id()
    jdir = store.create(job_id, src, "gtransfer")
    assert jdir == paths.job_dir(job_id)
    assert not os.path.lexists(paths.job_staging_dir(job_id))
    assert store.read(job_id, "job.state") == states.QUEUED
    assert _links(job_id) == [states.QUEUED]
    for attr in ("jobId", "job.id"):
        assert store.read(job_id, attr) == job_id
    assert store.read(job_id, "job.name") == "my job.sh"
    assert store.read(job_id, "job.type") == "gtransfer"
    copy = os.path.join(paths.job_tmp_dir(job_id), "my job.sh")
    assert store.job_path(job_id) == copy
    assert os.path.isabs(os.readlink(os.path.join(jdir, job_id)))
    assert os.access(copy, os.X_OK)
    # The copy is independent of the original.
    with open(src, "w") as f:
        f.write("changed\n")
    with open(copy) as f:
        assert f.read() == "#!/bin/bash\nexit 0\n"


def test_publish_writes_no_file_twice(store, tmp_path):
    """The staged job.state already says queued: publishing adds the link
    only (a second write would cost a file creation per submission)."""
    src = _job_file(tmp_path, "a.sh", "#!/bin/sh\ntrue\n")
    job_id, _ = store.new_id()
    store.stage(job_id, "a.sh", "default")
    store.copy_script(job_id, src, "a.sh")
    staged = os.stat(os.path.join(paths.job_staging_dir(job_id), "job.state")).st_ino
    store.publish(job_id, "a.sh")
    assert os.stat(paths.job_file(job_id, "job.state")).st_ino == staged
    assert store.read(job_id, "job.state") == states.QUEUED
    assert _links(job_id) == [states.QUEUED]


def test_remove_deletes_directory_and_links(store, tmp_path):
    job_id = _new_job(store, tmp_path, states.FINISHED)
    store.remove(job_id)
    assert not os.path.lexists(paths.job_dir(job_id))
    assert _links(job_id) == []
    assert os.listdir(paths.jobs_dir()) == []
    assert store.ids() == []


# -- states --------------------------------------------------------------------

@pytest.mark.parametrize("sequence", [
    (states.QUEUED, states.RUNNING, states.FINISHED),
    (states.QUEUED, states.HELD, states.QUEUED, states.RUNNING, states.HELD),
    (states.RUNNING, states.FAILED),
])
def test_set_state_writes_state_file_and_exactly_one_link(store, tmp_path, sequence):
    job_id = _new_job(store, tmp_path)
    for state in sequence:
        store.set_state(job_id, state)
        with open(paths.job_file(job_id, "job.state")) as f:
            assert f.read() == state + "\n"
        assert _links(job_id) == [state]
        link = paths.state_link(state, job_id)
        assert os.readlink(link) == paths.job_dir(job_id)
        assert store.state(job_id) == state
        assert store.ids(state) == [job_id]


def test_set_state_notifies_changes_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    paths.reset()
    seen = []
    bus = events.Bus()
    bus.subscribe(events.JOB_STATE, lambda event, job_id, old, new: seen.append((job_id, old, new)))
    s = JobStore(bus=bus)
    s.ensure()
    job_id, _ = s.new_id()
    s.create(job_id, _job_file(tmp_path), "default")
    del seen[:]
    s.set_state(job_id, states.QUEUED)
    s.set_state(job_id, states.RUNNING)
    s.set_state(job_id, states.RUNNING)
    s.set_state(job_id, states.HELD)
    s.set_state(job_id, states.FINISHED, notify=False)
    assert seen == [(job_id, states.QUEUED, states.RUNNING), (job_id, states.RUNNING, states.HELD)]
    paths.reset()


def test_state_falls_back_to_the_single_link(store, tmp_path):
    job_id = _new_job(store, tmp_path, states.FINISHED)
    with open(paths.job_file(job_id, "job.state"), "w") as f:
        f.write("bogus\n")
    assert store.state(job_id) == states.FINISHED


# -- reconcile: every crash point of set_state -------------------------------

def _assert_consistent(store, job_id, state):
    assert store.read(job_id, "job.state") == state
    assert _links(job_id) == [state]
    assert os.readlink(paths.state_link(state, job_id)) == paths.job_dir(job_id)


def test_a_state_change_keeps_one_link(store, tmp_path):
    job_id = _new_job(store, tmp_path, states.QUEUED)
    for state in (states.RUNNING, states.HELD, states.QUEUED, states.RUNNING, states.FINISHED):
        store.set_state(job_id, state, notify=False)
        _assert_consistent(store, job_id, state)


def test_a_state_change_cut_short_is_finished_by_the_next(store, tmp_path):
    """job.state written, its link not made (a full disk): the old link
    stays for now, and the next change removes it although job.state no
    longer names it."""
    job_id = _new_job(store, tmp_path, states.QUEUED)
    obstacle = paths.state_link(states.RUNNING, job_id)
    os.mkdir(obstacle)
    os.mkdir(os.path.join(obstacle, "x"))  # a rename cannot replace it
    with pytest.raises(OSError):
        store.set_state(job_id, states.RUNNING, notify=False)
    assert store.read(job_id, "job.state") == states.RUNNING
    assert _links(job_id) == [states.QUEUED, states.RUNNING]
    os.rmdir(os.path.join(obstacle, "x"))
    os.rmdir(obstacle)
    store.set_state(job_id, states.FINISHED, notify=False)
    _assert_consistent(store, job_id, states.FINISHED)


def _failing_unlink(monkeypatch, path):
    """The first unlink of ``path``, and the first rename from it, fail
    with EACCES (a state directory we may not write)."""
    import errno

    real_unlink, real_rename = os.unlink, os.rename
    tried = set()

    def failing(real):
        def call(p, *args, **kwargs):
            if p == path and real not in tried:
                tried.add(real)
                raise PermissionError(errno.EACCES, "Permission denied", p)
            return real(p, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "unlink", failing(real_unlink))
    monkeypatch.setattr(os, "rename", failing(real_rename))


@pytest.mark.parametrize("stray", [states.HELD, states.FAILED, states.QUEUED])
def test_a_link_another_writer_left_goes_at_the_next_change(store, tmp_path, stray):
    """A controller taken for lost that went on for a moment, or a hand
    edit, can leave a link in a third state directory: every change
    removes the links of every other state, not only the old one's."""
    job_id = _new_job(store, tmp_path, states.RUNNING)
    os.symlink(paths.job_dir(job_id), paths.state_link(stray, job_id))
    store.transition(job_id, states.FINISHED)
    _assert_consistent(store, job_id, states.FINISHED)


def test_a_transition_cut_short_is_finished_by_the_next_transition(store, tmp_path):
    job_id = _new_job(store, tmp_path, states.QUEUED)
    obstacle = paths.state_link(states.RUNNING, job_id)
    os.mkdir(obstacle)
    os.mkdir(os.path.join(obstacle, "x"))  # a rename cannot replace it
    with pytest.raises(OSError):
        store.transition(job_id, states.RUNNING)
    assert _links(job_id) == [states.QUEUED, states.RUNNING]
    os.rmdir(os.path.join(obstacle, "x"))
    os.rmdir(obstacle)
    # job.state says running; the queued link is the one left over.
    store.transition(job_id, states.FINISHED)
    _assert_consistent(store, job_id, states.FINISHED)


def test_a_state_change_moves_the_link_it_does_not_make_a_new_one(store, tmp_path):
    # One rename: the same inode in the new directory (a new symlink and an
    # unlink would allocate one and free one, issue 18), never two links.
    job_id = _new_job(store, tmp_path, states.QUEUED)
    inode = os.lstat(paths.state_link(states.QUEUED, job_id)).st_ino
    for state in (states.RUNNING, states.HELD, states.QUEUED, states.FINISHED):
        store.transition(job_id, state)
        _assert_consistent(store, job_id, state)
        assert os.lstat(paths.state_link(state, job_id)).st_ino == inode, state


def test_a_state_change_leaves_no_second_name_of_the_old_link(store, tmp_path):
    # queued/ID.d and running/ID.d one file (a store restored with cp -al):
    # the rename between them succeeds and moves nothing.
    job_id = _new_job(store, tmp_path, states.QUEUED)
    os.link(paths.state_link(states.QUEUED, job_id), paths.state_link(states.RUNNING, job_id),
            follow_symlinks=False)
    store.transition(job_id, states.RUNNING)
    _assert_consistent(store, job_id, states.RUNNING)


@pytest.mark.parametrize("planted", ["elsewhere", "relative", "dangling", "directory"])
def test_an_old_link_naming_anything_else_is_not_carried_on(store, tmp_path, planted):
    # A hand edit or a stranger's link in queued/: the new state's link
    # names the job's directory, whatever the old one named.
    job_id = _new_job(store, tmp_path, states.QUEUED)
    link = paths.state_link(states.QUEUED, job_id)
    os.unlink(link)
    if planted == "directory":
        os.mkdir(link)
    else:
        target = {"elsewhere": str(tmp_path), "relative": "../jobs/%s.d" % job_id,
                  "dangling": str(tmp_path / "gone")}[planted]
        os.symlink(target, link)
    store.transition(job_id, states.RUNNING)
    running = paths.state_link(states.RUNNING, job_id)
    assert os.readlink(running) == paths.job_dir(job_id)
    assert store.read(job_id, "job.state") == states.RUNNING
    if planted == "directory":
        assert os.path.isdir(link)  # not ours to remove: left as it was
    else:
        assert not os.path.lexists(link)


def test_an_old_link_that_cannot_be_removed_goes_at_the_next_transition(store, tmp_path, monkeypatch):
    job_id = _new_job(store, tmp_path, states.QUEUED)
    _failing_unlink(monkeypatch, paths.state_link(states.QUEUED, job_id))
    store.transition(job_id, states.RUNNING)  # no error: the state is written
    assert _links(job_id) == [states.QUEUED, states.RUNNING]
    store.transition(job_id, states.FINISHED)
    _assert_consistent(store, job_id, states.FINISHED)


def test_reconcile_leaves_a_consistent_store_alone(store, tmp_path):
    a = _new_job(store, tmp_path, states.QUEUED)
    b = _new_job(store, tmp_path, states.FINISHED)
    assert store.reconcile() == []
    _assert_consistent(store, a, states.QUEUED)
    _assert_consistent(store, b, states.FINISHED)


def test_reconcile_state_written_but_link_still_old(store, tmp_path):
    # Crash after writing job.state, before the new link.
    job_id = _new_job(store, tmp_path, states.QUEUED)
    store.write(job_id, "job.state", states.RUNNING)
    repairs = store.reconcile()
    assert len(repairs) == 1 and job_id in repairs[0]
    _assert_consistent(store, job_id, states.RUNNING)


def test_reconcile_both_links(store, tmp_path):
    # Crash after the new link, before the old one was removed.
    job_id = _new_job(store, tmp_path, states.RUNNING)
    store.write(job_id, "job.state", states.FINISHED)
    os.symlink(paths.job_dir(job_id), paths.state_link(states.FINISHED, job_id))
    assert sorted(_links(job_id)) == [states.FINISHED, states.RUNNING]
    assert store.reconcile()
    _assert_consistent(store, job_id, states.FINISHED)


def test_reconcile_no_link_at_all(store, tmp_path):
    job_id = _new_job(store, tmp_path, states.HELD)
    os.unlink(paths.state_link(states.HELD, job_id))
    assert store.reconcile()
    _assert_consistent(store, job_id, states.HELD)


def test_reconcile_removes_dangling_links(store, tmp_path):
    # A job directory removed (qdel crash) while its state link survived.
    kept = _new_job(store, tmp_path, states.QUEUED)
    os.symlink(os.path.join(paths.jobs_dir(), "00042.d"), paths.state_link(states.FAILED, "00042"))
    os.symlink(os.path.join(paths.jobs_dir(), "00043.d"), paths.state_link(states.QUEUED, "00043"))
    repairs = store.reconcile()
    assert len(repairs) == 2
    assert not os.path.lexists(paths.state_link(states.FAILED, "00042"))
    assert not os.path.lexists(paths.state_link(states.QUEUED, "00043"))
    _assert_consistent(store, kept, states.QUEUED)


@pytest.mark.parametrize("content", [None, "", "bogus\n"])
def test_reconcile_missing_or_invalid_state_file_follows_link(store, tmp_path, content):
    job_id = _new_job(store, tmp_path, states.FINISHED)
    state_file = paths.job_file(job_id, "job.state")
    if content is None:
        os.unlink(state_file)
    else:
        with open(state_file, "w") as f:
            f.write(content)
    assert store.reconcile()
    _assert_consistent(store, job_id, states.FINISHED)


@pytest.mark.parametrize("exit_value,want", [
    (None, states.QUEUED), ("0", states.FINISHED), ("3", states.FAILED),
])
def test_reconcile_no_state_file_and_no_link(store, tmp_path, exit_value, want):
    job_id = _new_job(store, tmp_path)
    os.unlink(paths.job_file(job_id, "job.state"))
    os.unlink(paths.state_link(states.QUEUED, job_id))
    if exit_value is not None:
        store.write(job_id, "job.exit", exit_value)
    assert store.reconcile()
    _assert_consistent(store, job_id, want)


def test_reconcile_published_job_without_link(store, tmp_path):
    # Crash after create() renamed the job into place, before its link.
    job_id = _new_job(store, tmp_path)
    os.unlink(paths.state_link(states.QUEUED, job_id))
    assert store.reconcile()
    _assert_consistent(store, job_id, states.QUEUED)


def test_reconcile_removes_unfinished_submissions_and_removals(store, tmp_path):
    kept = _new_job(store, tmp_path)
    staged, _ = store.new_id()
    doomed = _new_job(store, tmp_path, states.FINISHED)
    trash = os.path.join(paths.jobs_dir(), ".removed.%s.4711" % doomed)
    os.unlink(paths.state_link(states.FINISHED, doomed))
    os.rename(paths.job_dir(doomed), trash)
    assert len(store.reconcile()) == 2
    assert os.listdir(paths.jobs_dir()) == [kept + ".d"]
    assert store.ids() == [kept]
    _assert_consistent(store, kept, states.QUEUED)
    # The staged id was handed out and is not reused.
    assert store.new_id()[0] == "%05d" % (int(doomed) + 1)


def test_reconcile_is_idempotent(store, tmp_path):
    job_id = _new_job(store, tmp_path, states.QUEUED)
    store.write(job_id, "job.state", states.RUNNING)
    os.symlink(os.path.join(paths.jobs_dir(), "00009.d"), paths.state_link(states.HELD, "00009"))
    assert store.reconcile()
    assert store.reconcile() == []
    _assert_consistent(store, job_id, states.RUNNING)


# -- the kept listing of queued/ (queued_ids) ---------------------------------------

class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_queued_ids_follow_the_stores_own_changes_at_once_and_in_order(store, tmp_path):
    ids = [_new_job(store, tmp_path, name="j%d.job" % i) for i in range(5)]
    assert store.queued_ids() == ids == store.ids(states.QUEUED)
    listings = []
    listing = store._list
    store._list = lambda state: listings.append(state) or listing(state)
    store.set_state(ids[2], states.RUNNING)
    store.set_state(ids[0], states.HELD)
    assert store.queued_ids() == [ids[1], ids[3], ids[4]]
    store.set_state(ids[2], states.QUEUED)  # back in its place, not at the end
    store.set_state(ids[0], states.QUEUED)
    store.set_state(ids[0], states.QUEUED)  # once only
    assert store.queued_ids() == ids
    store.remove(ids[3])
    late = _new_job(store, tmp_path, name="late.job")
    kept = store.queued_ids()
    assert listings == []  # queued/ was not listed again
    assert kept == [ids[0], ids[1], ids[2], ids[4], late] == store.ids(states.QUEUED)
    got = store.queued_ids()
    got.clear()  # the caller's copy
    assert store.queued_ids() == store.ids(states.QUEUED)
    store.damaged[ids[1]] = "test"
    assert ids[1] not in store.queued_ids()


def test_queued_ids_see_another_writers_links_at_once(store, tmp_path):
    """A link made or removed by someone else (a hand edit, a controller
    taken for lost) changes queued/'s time: listed again at the next look,
    also when this store changed queued/ itself since.  (Each change is
    given a time of its own, as a file system with fine time stamps
    would; see the next test for one with coarse ones.)"""
    queued = paths.state_dir(states.QUEUED)
    moved = []

    def another_writer(change):
        change()
        moved.append(1)
        st = os.stat(queued)
        os.utime(queued, ns=(st.st_atime_ns, st.st_mtime_ns - len(moved) * 10 ** 9))

    a = _new_job(store, tmp_path, name="a.job")
    b = _new_job(store, tmp_path, states.FINISHED, name="b.job")
    assert store.queued_ids() == [a]
    another_writer(lambda: os.symlink(paths.job_dir(b), paths.state_link(states.QUEUED, b)))
    assert store.queued_ids() == [a, b]
    another_writer(lambda: os.unlink(paths.state_link(states.QUEUED, b)))
    c = _new_job(store, tmp_path, name="c.job")  # this store's change after it
    assert store.queued_ids() == [a, c]
    another_writer(lambda: os.symlink(paths.job_dir(b), paths.state_link(states.QUEUED, b)))
    store.set_state(a, states.RUNNING)
    assert store.queued_ids() == [b, c]


def test_queued_ids_list_again_when_the_time_hides_a_change(store, tmp_path, monkeypatch):
    """A change within one tick of a coarse clock (or behind an attribute
    cache) leaves queued/'s time as it was: seen QUEUED_RELIST seconds
    later, and at once after a repair."""
    from gsatellite import jobstore

    clock = _Clock()
    monkeypatch.setattr(jobstore.time, "monotonic", clock)
    a = _new_job(store, tmp_path, name="a.job")
    b = _new_job(store, tmp_path, states.FINISHED, name="b.job")
    assert store.queued_ids() == [a]
    queued = paths.state_dir(states.QUEUED)
    seen = os.stat(queued)

    def hidden(change):
        change()
        os.utime(queued, ns=(seen.st_atime_ns, seen.st_mtime_ns))

    hidden(lambda: os.symlink(paths.job_dir(b), paths.state_link(states.QUEUED, b)))
    hidden(lambda: os.unlink(paths.state_link(states.QUEUED, a)))
    assert store.queued_ids() == [a]  # the kept listing
    clock.now += JobStore.QUEUED_RELIST
    assert store.queued_ids() == [b]
    seen = os.stat(queued)
    hidden(lambda: os.symlink(paths.job_dir(a), paths.state_link(states.QUEUED, a)))
    assert store.queued_ids() == [b]
    store.repair(b)  # a repair lists again (b's link goes: it is finished)
    assert store.queued_ids() == [a]
