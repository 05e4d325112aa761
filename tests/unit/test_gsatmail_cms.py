"""gsatmail's BER reader (lib/gsatellite/gsatmail/cms.py) on signatures made
by cryptography (DER) and openssl -stream (BER, indefinite lengths): the
signature value and the signing time come out; anything damaged raises
ValueError and nothing else."""

import base64
import email
import os
import random
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import smime_kit  # noqa: E402

from gsatellite.gsatmail import cms  # noqa: E402


@pytest.fixture(scope="module")
def signed():
    ca = smime_kit.Authority("CA")
    who = ca.issue("alice@example.org")
    content = smime_kit.text_entity("gqstat\n")
    detached = email.message_from_bytes(smime_kit.detached(who, content))
    der = detached.get_payload()[1].get_payload(decode=True)
    opaque = email.message_from_bytes(smime_kit.opaque(who, content))
    ber = base64.b64decode(opaque.get_payload())
    return {"der": der, "ber": ber}


@pytest.mark.parametrize("kind", ["der", "ber"])
def test_signature_and_signing_time(signed, kind):
    data = signed[kind]
    assert cms.content_type(data) == cms.SIGNED_DATA
    [(signature, when)] = cms.signers(data)
    assert len(signature) == 256  # RSA 2048
    assert abs(when - time.time()) < 600


def test_openssl_stream_output_uses_indefinite_lengths(signed):
    assert signed["ber"][1] == 0x80 and signed["der"][1] != 0x80


@pytest.mark.parametrize("kind", ["der", "ber"])
def test_damage_raises_value_error_only(signed, kind):
    data = signed[kind]
    rng = random.Random(14)
    for cut in range(0, len(data), 7):
        with pytest.raises(ValueError):
            cms.signers(data[:cut])
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            cms.signers(bytes(damaged))
        except ValueError:
            pass


def test_deep_nesting_is_refused():
    data = b"\x30\x80" * 5000 + b"\x00\x00" * 5000
    with pytest.raises(ValueError):
        cms.signers(data)
