"""Whether a message is accepted (FEATURES.md §10), and what it asks.

:func:`check` raises :class:`Rejected` with the reason, in this order:
size, ``From:``, ``Message-ID``, ``Date:`` (not older than ``mail_max_age``
seconds, not more than :data:`SKEW` in the future), a registered sender;
then the S/MIME layers (:mod:`.smime`): signature over the exact content,
chain to a trust anchor, validity, email protection; the signer's address
equals ``From:`` and the certificate is the registered one; the signing
time (when the signature has one) is within the same age; a non-empty
text body.  The cheap header checks come first, so junk costs no openssl.
"""

import email
import email.policy
import email.utils
import hashlib
import time

from .. import config
from . import Rejected, keyring, smime

# How far a Date: or signing time may lie in the future (clock skew).
SKEW = 900


class Request:
    """An accepted message: ``message_id``, ``sender`` (the address),
    ``subject``, ``date`` (epoch), ``body`` (text), ``certificate`` (the
    signer's), ``signatures`` (replay keys), ``digest`` (what makes two
    deliveries the same message: its signature, which headers a delivery
    agent adds on a second delivery do not change)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def _headers(raw):
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    return email.message_from_bytes(head + b"\n\n", policy=email.policy.compat32)


def _sender(msg):
    values = msg.get_all("From") or []
    if len(values) != 1:
        raise Rejected("%d From: headers" % len(values))
    pairs = email.utils.getaddresses(values)
    if len(pairs) != 1 or "@" not in pairs[0][1]:
        raise Rejected("From: is not one address: %r" % values[0][:200])
    address = pairs[0][1].strip().lower()
    if not keyring.valid_address(address):
        raise Rejected("From: address not acceptable: %r" % address[:200])
    return address


def _age(stamp, now, what, max_age):
    if stamp < now - max_age:
        raise Rejected("%s is %d s old, more than mail_max_age (%d s)" % (what, now - stamp, max_age))
    if stamp > now + SKEW:
        raise Rejected("%s is %d s in the future" % (what, stamp - now))


def check(raw, verifier, now=None):
    """The :class:`Request` in ``raw`` (bytes); :class:`Rejected` otherwise."""
    now = time.time() if now is None else now
    limit = config.get_int("mail_max_size")
    if len(raw) > limit:
        raise Rejected("message is %d bytes, more than mail_max_size (%d)" % (len(raw), limit))
    max_age = config.get_int("mail_max_age")
    msg = _headers(raw)
    sender = _sender(msg)
    message_id = " ".join((msg.get("Message-ID") or "").split())
    if not message_id.startswith("<") or not message_id.endswith(">") or len(message_id) > 998:
        raise Rejected("no valid Message-ID")
    try:
        date = email.utils.parsedate_to_datetime(msg.get("Date") or "").timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        raise Rejected("no valid Date:")
    _age(date, now, "Date:", max_age)
    registered = keyring.registered(sender)
    if registered is None:
        raise Rejected("sender %s is not registered (no users/%s.pem)" % (sender, sender))
    unwrapped = verifier.unwrap(raw)
    cert = smime.signer_certificate(unwrapped.signer, now)
    names = smime.addresses(cert)
    if sender not in names:
        raise Rejected("From: %s is not the signer's address (%s)" % (sender, ", ".join(names) or "none"))
    if not smime.same_certificate(cert, registered):
        raise Rejected("signer certificate is not the one registered for %s" % sender)
    signatures = []
    for signature, signed_at in unwrapped.signers:
        if signed_at is not None:
            _age(signed_at, now, "signing time", max_age)
        signatures.append((hashlib.sha256(signature).hexdigest(), signed_at))
    return Request(message_id=message_id, sender=sender, subject=msg.get("Subject") or "",
                   date=date, body=_body(unwrapped.entity), certificate=cert,
                   signatures=signatures, digest=signatures[0][0],
                   encrypted=unwrapped.encrypted)


def _body(entity):
    part = email.message_from_bytes(entity, policy=email.policy.default)
    if part.is_multipart():
        part = part.get_body(("plain",))
        if part is None:
            raise Rejected("signed content has no text/plain part")
    if part.get_content_type() != "text/plain":
        raise Rejected("signed content is %s, not text/plain" % part.get_content_type())
    try:
        text = part.get_content()
    except (LookupError, ValueError) as e:
        raise Rejected("signed body cannot be decoded: %s" % e)
    if not text.strip():
        raise Rejected("signed body is empty")
    return text.replace("\r\n", "\n")
