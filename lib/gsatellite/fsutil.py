"""Small file helpers: atomic writes, tolerant reads, unique names.

Every file gsatellite writes for others to read is written to a hidden
temporary name in the same directory and renamed into place, so a reader
(or a crash) never sees half a file.  A write that fails (a full disk, a
read-only file system, a quota) removes its temporary file before the error
goes on, so a failure leaves nothing behind either.

Reads never block and never mistake something else for a file: a FIFO, a
directory or a device where a file is expected reads as unreadable.
"""

import errno
import os
import stat

# errno values that mean "this file system cannot take a write now" (as
# opposed to "this one file is damaged").
NO_ROOM = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EROFS))

# ASCII order, so fixed-width encodings sort like the numbers they encode.
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# Random bytes drawn from the kernel 512 at a time, not a getrandom call
# for every temporary name (a daemon makes ten a job); one byte per next(),
# so two threads never get the same.  A forked child (a spare sputnik)
# draws its own: with its parent's bytes both would name alike.
_RANDOM = [iter(())]


def _forked():
    _RANDOM[0] = iter(())


os.register_at_fork(after_in_child=_forked)


def random_chars(n):
    out = []
    for _ in range(n):
        try:
            b = next(_RANDOM[0])
        except StopIteration:
            _RANDOM[0] = iter(os.urandom(512))
            b = next(_RANDOM[0])
        out.append(ALPHABET[b % 62])
    return "".join(out)


# Temporary files are ".NAME.XXXXXXXX" beside NAME (8 of ALPHABET).
_TEMP_CHARS = 8


def _temp_name(name):
    return ".%s.%s" % (name, random_chars(_TEMP_CHARS))


def is_temp_name(entry, name):
    """Whether directory entry ``entry`` is a temporary file this module
    names beside ``name`` (one a writer killed while it wrote left)."""
    prefix = "." + name + "."
    rest = entry[len(prefix):]
    return entry.startswith(prefix) and len(rest) == _TEMP_CHARS and rest.isascii() and rest.isalnum()


def _temp_beside(path, create):
    """Create a hidden temporary name next to ``path`` with ``create(tmp)``
    (which must fail with FileExistsError when taken); returns its result."""
    d, name = os.path.split(path)
    while True:
        tmp = os.path.join(d, _temp_name(name))
        try:
            return tmp, create(tmp)
        except FileExistsError:
            continue


def write_all(fd, data):
    """Write every byte of ``data`` to ``fd`` (os.write may write less)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # cannot happen for files, but never loop for ever
            raise OSError(errno.EIO, "short write")
        view = view[n:]


def write_atomic(path, text, mode=0o600):
    """Write ``text`` to ``path`` via a temporary file and rename."""
    tmp, fd = _temp_beside(path, lambda t: os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    try:
        try:
            write_all(fd, text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text)
        finally:
            # close() reports ENOSPC/EDQUOT on NFS: it is part of the write.
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        _unlink_quiet(tmp)
        raise


def symlink_atomic(target, path):
    """Create or replace the symlink ``path -> target`` atomically.  Where
    nothing is in the way, symlink(2) alone is atomic (the link is there
    whole or not at all): the temporary name and the rename, two more
    directory entries to write, are for replacing."""
    try:
        os.symlink(target, path)
        return
    except FileExistsError:
        pass
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
    tmp = os.path.join(d, _temp_name(name))
    try:
        with os.fdopen(open_regular(src), "rb") as fin, open(tmp, "xb") as fout:
            shutil.copyfileobj(fin, fout)
        os.rename(tmp, dest)
    except BaseException:
        _unlink_quiet(tmp)
        raise


def append_line(path, line):
    """Append one line; a single write() so concurrent appenders don't interleave.

    A write cut short (the disk filled up in the middle) is taken back, so
    the file never ends in half a line; the error goes on as ENOSPC.
    """
    fd = open_append(path)
    try:
        append_line_to(fd, line, path)
    finally:
        os.close(fd)


def append_line_to(fd, line, path):
    """:func:`append_line` through ``fd`` from :func:`open_append`."""
    data = (line + "\n").encode("utf-8", "surrogateescape")
    n = os.write(fd, data)
    if n != len(data):
        end = os.lseek(fd, 0, os.SEEK_CUR)
        # Only if nobody appended after us: their line must survive.
        if os.fstat(fd).st_size == end:
            os.ftruncate(fd, end - n)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


def open_append(path):
    """A descriptor appending to ``path``, a regular file (made, mode 0600,
    when missing) or a character device (a log linked to /dev/null).
    Never blocks: a FIFO put where a job's or a daemon's file belongs
    (``job.stop``, a log) gives OSError, as a socket, a directory or a
    block device does (O_NONBLOCK, which a regular file and /dev/null
    ignore, keeps the open of a FIFO from waiting for a reader)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
            raise OSError(errno.EINVAL, "not a regular file", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path):
    """A read-only descriptor of the regular file ``path``; never blocks
    (a FIFO put where a file belongs).  OSError for anything that is not a
    regular file (EISDIR for a directory, EINVAL for the rest)."""
    return _open_regular(path)[0]


def _open_regular(path):
    """``(fd, st_size)`` of :func:`open_regular`."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
            raise OSError(code, "is a directory" if code == errno.EISDIR else "not a regular file", path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_text(path, default=None, limit=1 << 20):
    """Content of a small file, or ``default`` when it cannot be read."""
    data = read_bytes(path, None, limit)
    return default if data is None else data.decode("utf-8", "surrogateescape")


def read_bytes(path, default=None, limit=1 << 20):
    """:func:`read_text` undecoded."""
    try:
        fd, size = _open_regular(path)
    except OSError:
        return default
    # Plain reads sized by the fstat already made (a file object would
    # fstat, ioctl and lseek again and map a buffer of ``limit`` bytes):
    # the daemons read some forty small job files per job.
    chunks, left, got = [], limit, 0
    try:
        while left > 0:
            want = min(left, max(size + 1 - got, 4096) if got else size + 1)
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
            got += len(chunk)
            # A short read that reaches the size the fstat gave is the end:
            # no read more to see nothing (one system call of five, the
            # daemons' most frequent read).  Short of that size (a read
            # gives at most 2 GiB) or beyond it (the file grew), read on.
            if len(chunk) < want and got >= size:
                break
    except OSError:
        return default
    finally:
        os.close(fd)
    return b"".join(chunks)


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
