"""X.509 proxy files for the proxy-expiry tests, made as grid tools make
them: a proxy certificate signed by the user's key, the proxy's key, then
the user's certificate, all PEM in one file of mode 0600.

Lifetimes are given as an end of validity in epoch seconds, so a test can
make proxies that end in a few seconds.  EC keys: generating them takes
microseconds, where RSA takes a good part of a second.
"""

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UTC = datetime.timezone.utc


def _name(*cns):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in cns])


def _cert(subject, issuer, key, signer, start, end):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .sign(signer, hashes.SHA256()))


def proxy_pem(not_after, not_before=None):
    """The bytes of a proxy file whose (first) certificate ends at epoch ``not_after``."""
    end = datetime.datetime.fromtimestamp(int(not_after), UTC)
    start = datetime.datetime.fromtimestamp(int(not_before if not_before is not None else not_after - 86400), UTC)
    user_key = ec.generate_private_key(ec.SECP256R1())
    proxy_key = ec.generate_private_key(ec.SECP256R1())
    user = _name("Test User")
    user_cert = _cert(user, _name("Test CA"), user_key, user_key, start - datetime.timedelta(days=1),
                      end + datetime.timedelta(days=365))
    proxy_cert = _cert(_name("Test User", "123456789"), user, proxy_key, user_key, start, end)
    key = proxy_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption())
    return (proxy_cert.public_bytes(serialization.Encoding.PEM) + key
            + user_cert.public_bytes(serialization.Encoding.PEM))


def write_proxy(path, not_after):
    """Write (or renew: replace) the proxy file at ``path`` atomically, as
    grid-proxy-init does with a temporary file and a rename."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(proxy_pem(not_after))
    os.rename(tmp, path)
    return path
