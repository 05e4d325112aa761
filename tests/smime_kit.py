"""Certificates and S/MIME messages for the gsatmail tests, made the way
mail clients make them: the standard library's ``email`` package for the
message, ``cryptography`` or ``openssl`` for signing and encrypting.

:class:`Pki` holds a CA, a second unrelated CA, the host and users (one
expired, one without email protection, one from the other CA).  The
builders return the message as bytes with LF line ends, as a delivery
agent hands it over.
"""

import datetime
import email
import email.policy
import email.utils
import os
import subprocess
import tempfile
from email.message import EmailMessage

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "gsat@host.example.org"
DAY = datetime.timedelta(days=1)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Identity:
    def __init__(self, address, cert, key):
        self.address, self.cert, self.key = address, cert, key

    @property
    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self):
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


class Authority:
    def __init__(self, cn):
        self.key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - DAY).not_valid_after(now + 365 * DAY)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                    critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, address, expired=False, eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,)):
        key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = (now - 30 * DAY, now - DAY) if expired else (now - DAY, now + 30 * DAY)
        cert = (x509.CertificateBuilder().subject_name(_name(address)).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
                .add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
                .add_extension(x509.KeyUsage(True, True, True, False, False, False, False, False, False),
                               critical=True)
                .sign(self.key, hashes.SHA256()))
        return Identity(address, cert, key)


class Pki:
    def __init__(self):
        self.ca = Authority("Test CA")
        self.other_ca = Authority("Unrelated CA")
        self.host = self.ca.issue(HOST)
        self.alice = self.ca.issue("alice@example.org")
        self.bob = self.ca.issue("bob@example.org")
        self.carol = self.ca.issue("carol@example.org")  # never registered
        self.eve = self.other_ca.issue("eve@example.org")
        self.old = self.ca.issue("old@example.org", expired=True)
        self.noprot = self.ca.issue("noprot@example.org", eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))

    def install(self, g):
        """Write trust anchor, host credentials and registered users under ``G/mail``."""
        d = os.path.join(g, "mail")
        with open(os.path.join(d, "trust", "ca.pem"), "wb") as f:
            f.write(self.ca.pem)
        with open(os.path.join(d, "host.pem"), "wb") as f:
            f.write(self.host.pem)
        fd = os.open(os.path.join(d, "host.key"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, self.host.key_pem)
        os.close(fd)
        for who in (self.alice, self.bob, self.eve, self.old, self.noprot):
            with open(os.path.join(d, "users", who.address + ".pem"), "wb") as f:
                f.write(who.pem)


# -- messages -------------------------------------------------------------------------

def text_entity(body):
    """The signed part: a text/plain MIME entity with CRLF line ends."""
    inner = EmailMessage(policy=email.policy.SMTP)
    inner.set_content(body)
    return inner.as_bytes()


def headers(sender, subject="gsat", date=None, message_id=None):
    date = email.utils.formatdate(date, localtime=True)
    message_id = message_id or email.utils.make_msgid("test", domain="example.org")
    return ("From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: %s\n" % (
        sender, HOST, subject, date, message_id)).encode()


def _lf(data):
    return data.replace(b"\r\n", b"\n")


def detached(who, content):
    """multipart/signed with a detached signature over ``content`` (bytes)."""
    return (pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(who.cert, who.key, hashes.SHA256())
            .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature]))


def opaque(who, content):
    """application/pkcs7-mime; smime-type=signed-data made by ``openssl cms
    -sign -nodetach -stream`` (BER with indefinite lengths)."""
    with tempfile.TemporaryDirectory() as d:
        for name, data in (("cert", who.pem), ("key", who.key_pem), ("in", content)):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        p = subprocess.run(["openssl", "cms", "-sign", "-nodetach", "-stream", "-binary", "-outform", "SMIME",
                            "-signer", os.path.join(d, "cert"), "-inkey", os.path.join(d, "key"),
                            "-in", os.path.join(d, "in")], capture_output=True, check=True)
    return p.stdout


def encrypted(recipient_cert, entity):
    return (pkcs7.PKCS7EnvelopeBuilder().set_data(entity).add_recipient(recipient_cert)
            .encrypt(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.Binary]))


def message(who, body, form="detached", sender=None, pki=None, **head):
    """A complete signed message from ``who`` carrying ``body`` (text)."""
    entity = text_entity(body)
    if form == "detached":
        smime = detached(who, entity)
    elif form == "opaque":
        smime = opaque(who, entity)
    elif form == "encrypted":
        smime = encrypted(pki.host.cert, detached(who, entity))
    else:
        raise ValueError(form)
    return headers(sender or who.address, **head) + _lf(smime)


def unsigned(sender, body, **head):
    msg = EmailMessage()
    msg.set_content(body)
    return headers(sender, **head) + _lf(bytes(msg))


# -- replies --------------------------------------------------------------------------

def open_reply(msg, pki, who):
    """Decrypt (when encrypted) a reply with ``who``'s key and verify its
    signature against the test CA and the host certificate; returns the
    text.  Raises AssertionError when anything does not hold."""
    raw = msg.as_bytes()
    if msg.get_content_type() == "application/pkcs7-mime":
        raw = pkcs7.pkcs7_decrypt_smime(raw, who.cert, who.key, [])
    with tempfile.TemporaryDirectory() as d:
        for name, data in (("msg", raw), ("ca", pki.ca.pem)):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        p = subprocess.run(["openssl", "cms", "-verify", "-inform", "SMIME", "-in", os.path.join(d, "msg"),
                            "-CAfile", os.path.join(d, "ca"), "-no-CApath", "-purpose", "smimesign",
                            "-signer", os.path.join(d, "signer")], capture_output=True)
        assert p.returncode == 0, p.stderr.decode()
        signer = x509.load_pem_x509_certificate(open(os.path.join(d, "signer"), "rb").read())
    assert signer == pki.host.cert
    inner = email.message_from_bytes(p.stdout, policy=email.policy.default)
    return inner.get_content().replace("\r\n", "\n")
