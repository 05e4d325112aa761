"""fsutil.random_chars: the characters of temporary and box names."""

from gsatellite import fsutil

from .conftest import in_forked_child


def test_names_use_the_alphabet_and_do_not_repeat():
    names = [fsutil.random_chars(8) for _ in range(2000)]  # several refills
    assert len(set(names)) == len(names)
    assert all(len(n) == 8 and set(n) <= set(fsutil.ALPHABET) for n in names)


def test_a_forked_child_draws_other_characters_than_its_parent():
    """A spare sputnik is forked from the controller: with the bytes its
    parent had drawn and not yet used, both would name their temporary
    files alike."""
    fsutil.random_chars(1)  # bytes drawn and waiting in the parent
    theirs, _ = in_forked_child(lambda: fsutil.random_chars(32).encode())
    assert len(theirs) == 32 and theirs.decode() != fsutil.random_chars(32)
