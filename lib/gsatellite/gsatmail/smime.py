"""S/MIME: unwrapping a request (decrypt, verify) and wrapping a reply (sign,
encrypt).

Verification is ``openssl cms -verify`` (through :mod:`sh`): the signature
over the exact content bytes, the chain to ``G/mail/trust`` only (the
system's certificate store is switched off), validity and the S/MIME
signing purpose.  We hand openssl the very bytes we then act on and read
replay keys from (:mod:`.cms`): for ``multipart/signed`` the raw bytes of
the first part (line ends made CRLF, as RFC 8551 §3.1.1 canonicalises them)
and the signature part, so openssl and we cannot disagree about which part
is which.  Decrypting and signing/encrypting replies is
``cryptography``'s ``pkcs7``.
"""

import base64
import email
import email.policy
import os
import re
import shutil
import tempfile

from . import Rejected, SetupError, cms

SIGNATURE_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature")
MIME_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")
# openssl's words for why a verification failed -> the reason we log.
_OPENSSL_REASONS = (
    ("certificate has expired", "signer certificate expired"),
    ("certificate is not yet valid", "signer certificate not yet valid"),
    ("unsupported certificate purpose", "signer certificate does not allow email protection"),
    ("unsuitable certificate purpose", "signer certificate does not allow email protection"),
    ("unable to get local issuer certificate", "signer certificate does not chain to a trust anchor"),
    ("self-signed certificate", "signer certificate does not chain to a trust anchor"),
    ("self signed certificate", "signer certificate does not chain to a trust anchor"),
    ("signer certificate not found", "no signer certificate in the signature"),
    (":verify error: ", None),
    ("verification failure", "signature does not verify over the content"),
    ("content verify error", "signature does not verify over the content"),
)


class Unwrapped:
    """A verified request: ``entity`` the signed MIME entity (bytes, CRLF),
    ``signer`` PEM of the signer certificate(s), ``signers`` from
    :func:`cms.signers`, ``encrypted`` whether it came encrypted."""

    def __init__(self, entity, signer, signers, encrypted):
        self.entity, self.signer, self.signers, self.encrypted = entity, signer, signers, encrypted


class Verifier:
    """One per run: a private scratch directory holding the trust bundle."""

    def __init__(self, trust_pem, host_cert=None, host_key=None):
        import sh

        try:
            self.openssl = sh.Command("openssl")
        except sh.CommandNotFound:
            raise SetupError("openssl is not on PATH")
        self.dir = tempfile.mkdtemp(prefix="gsatmail.")
        self.trust = os.path.join(self.dir, "trust.pem")
        with open(self.trust, "wb") as f:
            f.write(trust_pem)
        self.host_cert, self.host_key = host_cert, host_key
        version = str(self.openssl("version")).split()
        # -no-CAstore exists from OpenSSL 3 on; without it 3.x would also
        # trust the system store.
        self.no_store = ["-no-CAstore"] if len(version) > 1 and version[1][:1] >= "3" else []

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def unwrap(self, raw, depth=0):
        """Verify (and decrypt) ``raw``; :class:`Rejected` with the reason."""
        data = re.sub(b"\r?\n", b"\r\n", raw)
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        ctype = msg.get_content_type()
        if ctype == "multipart/signed":
            content, der = _split_signed(msg, data)
            return self._verified(der, content, encrypted=depth > 0)
        if ctype in MIME_TYPES:
            der = _base64_body(msg)
            try:
                kind = cms.content_type(der)
            except ValueError:
                raise Rejected("malformed %s body" % ctype)
            if kind == cms.SIGNED_DATA:
                return self._verified(der, None, encrypted=depth > 0)
            if kind == cms.ENVELOPED_DATA and depth == 0:
                return self.unwrap(self._decrypt(der), depth + 1)
            if kind == cms.ENVELOPED_DATA:
                raise Rejected("encrypted twice")
            raise Rejected("%s is neither signed nor encrypted data" % ctype)
        if depth:
            raise Rejected("encrypted but not signed (inside: %s)" % ctype)
        raise Rejected("not S/MIME signed (Content-Type %s)" % ctype)

    def _decrypt(self, der):
        from cryptography.hazmat.primitives.serialization import pkcs7

        try:
            return pkcs7.pkcs7_decrypt_der(der, self.host_cert, self.host_key, [])
        except Exception as e:  # cryptography raises ValueError and UnsupportedAlgorithm alike
            raise Rejected("cannot decrypt with the host key: %s" % (str(e).splitlines() or ["?"])[0])

    def _verified(self, der, content, encrypted):
        try:
            signers = cms.signers(der)
        except ValueError as e:
            raise Rejected("malformed signature: %s" % e)
        if len(signers) != 1:
            raise Rejected("%d signers; exactly one is accepted" % len(signers))
        work = tempfile.mkdtemp(dir=self.dir)
        try:
            sig, out, signer = (os.path.join(work, n) for n in ("sig.der", "out", "signer.pem"))
            with open(sig, "wb") as f:
                f.write(der)
            argv = ["cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-out", out,
                    "-CAfile", self.trust, "-no-CApath"] + self.no_store + [
                    "-purpose", "smimesign", "-signer", signer]
            if content is not None:
                with open(os.path.join(work, "content"), "wb") as f:
                    f.write(content)
                argv += ["-content", os.path.join(work, "content")]
            p = self.openssl(*argv, _ok_code=list(range(256)), _return_cmd=True, _in=b"")
            if p.exit_code != 0:
                raise Rejected(_reason(p.stderr.decode("utf-8", "replace")))
            with open(out, "rb") as f:
                entity = f.read()
            with open(signer, "rb") as f:
                signer_pem = f.read()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return Unwrapped(entity, signer_pem, signers, encrypted)


def _reason(stderr):
    low = stderr.lower()
    for words, reason in _OPENSSL_REASONS:
        if words in low and reason is None:
            return "signer certificate not accepted: %s" % stderr[low.index(words) + len(words):].split("\n")[0].strip()
        if words in low:
            return reason
    lines = [line for line in stderr.splitlines() if line.strip()]
    return "signature not accepted by openssl: %s" % (lines[-1][:200] if lines else "no detail")


def _base64_body(msg):
    if msg.is_multipart():
        raise Rejected("S/MIME body is multipart")
    body = msg.get_payload()
    try:
        return base64.b64decode(re.sub(r"\s+", "", body), validate=True)
    except (ValueError, TypeError):
        raise Rejected("S/MIME body is not base64")


def _split_signed(msg, data):
    """``(content bytes, signature DER)`` of a ``multipart/signed`` message
    (``data``: the whole message with CRLF line ends)."""
    boundary = msg.get_param("boundary")
    if not boundary or not isinstance(boundary, str):
        raise Rejected("multipart/signed without a boundary")
    _, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise Rejected("multipart/signed without a body")
    # A delimiter is CRLF "--" boundary at the start of a line; the CRLF
    # before it belongs to the delimiter, not to the part (RFC 2046 §5.1.1).
    body = b"\r\n" + body
    delim = b"\r\n--" + boundary.encode("ascii", "replace")
    parts = []
    pos = body.find(delim)
    while pos >= 0:
        line_end = body.find(b"\r\n", pos + len(delim))
        if line_end < 0:
            break
        tail = body[pos + len(delim):line_end]
        if tail.startswith(b"--"):
            break
        if tail.strip(b" \t"):
            raise Rejected("multipart/signed with a malformed delimiter")
        nxt = body.find(delim, line_end)
        if nxt < 0:
            raise Rejected("multipart/signed without a closing delimiter")
        parts.append(body[line_end + 2:nxt])
        pos = nxt
    if len(parts) != 2:
        raise Rejected("multipart/signed with %d parts, not 2" % len(parts))
    sig_part = email.message_from_bytes(parts[1], policy=email.policy.compat32)
    if sig_part.get_content_type() not in SIGNATURE_TYPES:
        raise Rejected("multipart/signed whose second part is %s" % sig_part.get_content_type())
    return parts[0], _base64_body(sig_part)


# -- certificates -----------------------------------------------------------------

def signer_certificate(pem, now):
    """The one signer certificate in ``pem``, checked for validity at ``now``
    (epoch seconds) and for the email protection purpose."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise Rejected("no readable signer certificate")
    if len(certs) != 1:
        raise Rejected("%d signer certificates; exactly one is accepted" % len(certs))
    cert = certs[0]
    if not cert.not_valid_before_utc.timestamp() <= now <= cert.not_valid_after_utc.timestamp():
        raise Rejected("signer certificate not valid now (valid %s to %s)" % (
            cert.not_valid_before_utc.isoformat(), cert.not_valid_after_utc.isoformat()))
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.EMAIL_PROTECTION not in eku:
            raise Rejected("signer certificate does not allow email protection")
    except x509.ExtensionNotFound:
        pass
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (ku.digital_signature or ku.content_commitment):
            raise Rejected("signer certificate key usage does not allow signing")
    except x509.ExtensionNotFound:
        pass
    return cert


def addresses(cert):
    """The email addresses a certificate names, lower-cased."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    found = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found += san.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        pass
    found += [a.value for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    return [a.strip().lower() for a in found if isinstance(a, str)]


def same_certificate(a, b):
    from cryptography.hazmat.primitives.serialization import Encoding

    return a.public_bytes(Encoding.DER) == b.public_bytes(Encoding.DER)


# -- replies --------------------------------------------------------------------------

def wrap(text, host_cert, host_key, recipient=None):
    """The MIME entity (bytes) of a reply: ``text`` signed with the host's
    key, then encrypted to ``recipient`` when given."""
    from email.message import EmailMessage

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    inner = EmailMessage(policy=email.policy.SMTP)
    inner.set_content(text, cte="quoted-printable")
    del inner["MIME-Version"]
    signed = (pkcs7.PKCS7SignatureBuilder().set_data(inner.as_bytes())
              .add_signer(host_cert, host_key, hashes.SHA256())
              .sign(Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature]))
    if recipient is None:
        return signed
    return (pkcs7.PKCS7EnvelopeBuilder().set_data(signed).add_recipient(recipient)
            .encrypt(Encoding.SMIME, [pkcs7.PKCS7Options.Binary]))
