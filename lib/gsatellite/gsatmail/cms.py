"""Just enough BER to read a CMS ContentInfo (RFC 5652) without a parser
library: its content type, and of signed data each signer's signature
value and signing time.

Verification is openssl's (:mod:`.smime`); this module only reads values
out of the very bytes openssl verified, for the replay checks.  Mail
clients send BER with indefinite lengths as well as DER; both are read.
Anything malformed raises :class:`ValueError`.
"""

import datetime

SIGNED_DATA = bytes.fromhex("2a864886f70d010702")      # 1.2.840.113549.1.7.2
ENVELOPED_DATA = bytes.fromhex("2a864886f70d010703")   # 1.2.840.113549.1.7.3
SIGNING_TIME = bytes.fromhex("2a864886f70d010905")     # 1.2.840.113549.1.9.5
_MAX_DEPTH = 64


class Node:
    __slots__ = ("tag", "constructed", "data", "start", "end")

    def __init__(self, tag, constructed, data, start, end):
        self.tag, self.constructed, self.data, self.start, self.end = tag, constructed, data, start, end

    @property
    def value(self):
        return self.data[self.start:self.end]

    def children(self, depth=0):
        if not self.constructed:
            raise ValueError("primitive value has no children")
        if depth > _MAX_DEPTH:
            raise ValueError("nested too deeply")
        out, pos = [], self.start
        while pos < self.end:
            node, pos = read(self.data, pos, self.end, depth + 1)
            if node is None:  # end-of-contents of an indefinite length
                break
            out.append(node)
        return out


def read(data, pos, limit, depth=0):
    """The element at ``pos`` and the position after it; ``(None, pos+2)`` at
    an end-of-contents marker."""
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deeply")
    if pos + 2 > limit:
        raise ValueError("truncated")
    first = data[pos]
    if first == 0 and data[pos + 1] == 0:
        return None, pos + 2
    tag, pos = first, pos + 1
    if first & 0x1F == 0x1F:  # high tag number: skip its bytes, keep the first
        while pos < limit and data[pos] & 0x80:
            pos += 1
        pos += 1
    if pos >= limit:
        raise ValueError("truncated")
    length, pos = data[pos], pos + 1
    constructed = bool(first & 0x20)
    if length == 0x80:
        if not constructed:
            raise ValueError("indefinite length on a primitive value")
        node = Node(tag, True, data, pos, limit)
        end = pos
        while True:
            child, end = read(data, end, limit, depth + 1)
            if child is None:
                break
        node.end = end - 2
        return node, end
    if length & 0x80:
        count = length & 0x7F
        if count > 4 or pos + count > limit:
            raise ValueError("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > limit:
        raise ValueError("truncated")
    return Node(tag, constructed, data, pos, pos + length), pos + length


def _top(data):
    node, _ = read(data, 0, len(data))
    if node is None or node.tag != 0x30:
        raise ValueError("not a ContentInfo")
    parts = node.children()
    if len(parts) < 2 or parts[0].tag != 0x06 or parts[1].tag != 0xA0:
        raise ValueError("not a ContentInfo")
    return parts[0].value, parts[1]


def content_type(data):
    """The OID bytes of a ContentInfo's content type."""
    return _top(data)[0]


def signers(data):
    """``[(signature bytes, signing time or None)]`` of a signed-data ContentInfo."""
    try:
        return _signers(data)
    except IndexError:
        raise ValueError("truncated")


def _signers(data):
    oid, wrapper = _top(data)
    if oid != SIGNED_DATA:
        raise ValueError("not signed data")
    signed = wrapper.children()[0]
    sets = [c for c in signed.children() if c.tag == 0x31]
    if len(sets) < 2:
        raise ValueError("no signer infos")
    out = []
    for info in sets[-1].children():
        fields = info.children()
        signature = [f for f in fields if f.tag == 0x04]
        if not signature:
            raise ValueError("signer info without a signature")
        when = None
        for attrs in (f for f in fields if f.tag == 0xA0):
            for attr in attrs.children():
                kids = attr.children()
                if len(kids) == 2 and kids[0].value == SIGNING_TIME:
                    values = kids[1].children()
                    if values:
                        when = _time(values[0])
        out.append((signature[0].value, when))
    return out


def _time(node):
    text = node.value.decode("ascii", "replace")
    try:
        if node.tag == 0x17:  # UTCTime: YYMMDDHHMM[SS]Z
            stamp = datetime.datetime.strptime(text, "%y%m%d%H%M%SZ")
        elif node.tag == 0x18:
            stamp = datetime.datetime.strptime(text.split(".")[0].rstrip("Z"), "%Y%m%d%H%M%S")
        else:
            return None
    except ValueError:
        return None
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
