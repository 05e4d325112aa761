"""The files under ``G/mail``: trust anchors, the host's certificate and key,
registered users, and gsatmail's own working directories.

``trust/*.pem``      certificate authorities user certificates must chain to
``host.pem``         the certificate replies are signed with (and mail is encrypted to)
``host.key``         its private key (mode 0600)
``users/ADDRESS.pem`` one per registered user: the certificate of ``ADDRESS``
``journal/``         :mod:`.journal`;  ``spool/`` job scripts being submitted

:func:`check` runs at every start: every directory is ours and closed to
group and others, the key is readable by us only, and no certificate can
be replaced by anyone else; otherwise :class:`SetupError` names the file.
"""

import os
import re
import stat

from .. import paths
from ..fsutil import open_regular
from . import SetupError

DIRS = ("trust", "users", "journal", "spool")
# What we accept as an address that names a file in users/: no "/", no
# leading dot, nothing a shell or a path could misread.
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+=?^_`{|}~-][A-Za-z0-9.!#$%&'*+=?^_`{|}~-]*@[A-Za-z0-9.-]+\Z")


def mail_dir():
    return paths.mail_dir()


def path(*parts):
    return os.path.join(mail_dir(), *parts)


def host_cert_path():
    return path("host.pem")


def host_key_path():
    return path("host.key")


def valid_address(address):
    return bool(_ADDRESS.match(address)) and ".." not in address and len(address) <= 254


def user_cert_path(address):
    """``users/ADDRESS.pem`` for a (lower-cased) address, or None when the
    address cannot name a file."""
    address = address.lower()
    if not valid_address(address):
        return None
    return path("users", address + ".pem")


def init(out):
    """Create ``G/mail`` and its directories (mode 0700); tell on ``out``
    what is still missing.  Returns True when the setup is complete."""
    os.makedirs(paths.base(), mode=0o700, exist_ok=True)
    for d in (mail_dir(),) + tuple(path(name) for name in DIRS):
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
    if os.path.exists(host_key_path()):
        os.chmod(host_key_path(), 0o600)
    missing = [p for p in (host_cert_path(), host_key_path()) if not os.path.exists(p)]
    if not [n for n in os.listdir(path("trust")) if n.endswith(".pem")]:
        missing.append(path("trust", "CA.pem"))
    for p in missing:
        out.write("missing: %s\n" % p)
    if missing:
        out.write("See docs/email.md (or gsatmail(1)) for how to make or get them.\n")
    return not missing


def _check_owned(p, st, closed):
    if st.st_uid != os.getuid():
        raise SetupError("%s is not owned by you" % p)
    if st.st_mode & closed:
        raise SetupError("%s has mode %04o; run gsatmail --init or chmod %s" % (
            p, stat.S_IMODE(st.st_mode), "go-rwx" if closed == 0o077 else "go-w"))


def check():
    """Raise :class:`SetupError` unless ``G/mail`` is complete and safe."""
    for d in (mail_dir(),) + tuple(path(name) for name in DIRS):
        try:
            st = os.stat(d)
        except OSError:
            raise SetupError("%s is missing; run gsatmail --init" % d)
        if not stat.S_ISDIR(st.st_mode):
            raise SetupError("%s is not a directory" % d)
        _check_owned(d, st, 0o077)
    for p, closed in ((host_key_path(), 0o077), (host_cert_path(), 0o022)):
        try:
            st = os.stat(p)
        except OSError:
            raise SetupError("%s is missing; see gsatmail --init" % p)
        _check_owned(p, st, closed)
    for d in ("trust", "users"):
        for name in os.listdir(path(d)):
            if name.endswith(".pem"):
                _check_owned(path(d, name), os.stat(path(d, name)), 0o022)
    if not trust_files():
        raise SetupError("no trust anchor in %s; see gsatmail --init" % path("trust"))


def trust_files():
    return sorted(path("trust", n) for n in os.listdir(path("trust")) if n.endswith(".pem"))


def _read(p):
    # Never blocks: a FIFO where a certificate or key belongs is an error
    # ("not a regular file"), not a gsatmail waiting for ever.
    with os.fdopen(open_regular(p), "rb") as f:
        return f.read()


def trust_bundle():
    """Every trust anchor, concatenated PEM (what ``openssl -CAfile`` reads)."""
    return b"".join(_read(p).rstrip(b"\n") + b"\n" for p in trust_files())


def host_credentials():
    """``(certificate, private key)`` of the host; :class:`SetupError`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(_read(host_cert_path()))
        key = serialization.load_pem_private_key(_read(host_key_path()), None)
    except (OSError, ValueError, TypeError) as e:
        raise SetupError("host certificate or key cannot be loaded: %s" % e)
    return cert, key


def registered(address):
    """The registered certificate of ``address``, or None."""
    from cryptography import x509

    p = user_cert_path(address)
    if p is None:
        return None
    try:
        return x509.load_pem_x509_certificate(_read(p))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SetupError("%s cannot be loaded: %s" % (p, e))
