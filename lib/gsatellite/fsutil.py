"""Small file helpers: atomic writes, tolerant reads, unique names.

Every file gsatellite writes for others to read is written to a hidden
temporary name in the same directory and renamed into place, so a reader
(or a crash) never sees half a file.
"""

import os

# ASCII order, so fixed-width encodings sort like the numbers they encode.
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_chars(n):
    raw = os.urandom(n)
    return "".join(ALPHABET[b % 62] for b in raw)


def _temp_beside(path, create):
    """Create a hidden temporary name next to ``path`` with ``create(tmp)``
    (which must fail with FileExistsError when taken); returns its result."""
    d, name = os.path.split(path)
    while True:
        tmp = os.path.join(d, ".%s.%s" % (name, random_chars(8)))
        try:
            return tmp, create(tmp)
        except FileExistsError:
            continue


def write_atomic(path, text, mode=0o600):
    """Write ``text`` to ``path`` via a temporary file and rename."""
    tmp, fd = _temp_beside(path, lambda t: os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    try:
        data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except BaseException:
        os.close(fd)
        _unlink_quiet(tmp)
        raise
    os.close(fd)
    try:
        os.rename(tmp, path)
    except BaseException:
        _unlink_quiet(tmp)
        raise


def symlink_atomic(target, path):
    """Create or replace the symlink ``path -> target`` atomically."""
    tmp, _ = _temp_beside(path, lambda t: os.symlink(target, t))
    try:
        os.rename(tmp, path)
    except BaseException:
        _unlink_quiet(tmp)
        raise


def copy_atomic(src, dest):
    """Copy ``src`` to ``dest`` through a temporary file next to ``dest``."""
    import shutil

    d, name = os.path.split(dest)
    tmp = os.path.join(d, ".%s.%s" % (name, random_chars(8)))
    try:
        with open(src, "rb") as fin, open(tmp, "xb") as fout:
            shutil.copyfileobj(fin, fout)
        os.rename(tmp, dest)
    except BaseException:
        _unlink_quiet(tmp)
        raise


def append_line(path, line):
    """Append one line; a single write() so concurrent appenders don't interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


def read_text(path, default=None, limit=1 << 20):
    """Content of a small file, or ``default`` when it cannot be read."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError:
        return default
    return data.decode("utf-8", "surrogateescape")


def read_first_line(path, default=None):
    text = read_text(path)
    if text is None:
        return default
    return text.strip("\n").split("\n", 1)[0] if text else ""


def _unlink_quiet(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def unlink_quiet(path):
    _unlink_quiet(path)


def makedirs(path):
    os.makedirs(path, mode=0o700, exist_ok=True)
