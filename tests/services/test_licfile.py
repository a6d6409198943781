"""The .ec format (docs/license-format.md): round trip and every refusal reason."""

from __future__ import annotations

import base64
import datetime as dt
import random
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ectui.services import licfile
from ectui.services.errors import LicenseError


@dataclass(frozen=True)
class Keys:
    """Keys of one issuer + license, and those of strangers."""

    license: rsa.RSAPrivateKey
    other_license: rsa.RSAPrivateKey
    issuer: Ed25519PrivateKey
    other_issuer: Ed25519PrivateKey


DOC = licfile.LicenseDocument(
    license_id="42",
    customer="ACME Cloud 云",
    edition="Enterprise",
    max_clusters=3,
    max_nodes=50,
    storage=("local", "shared"),
    grace_days=7,
    features=("platform", "platform.clusters", "users", "users.audit"),
    valid_from=dt.date(2030, 1, 1),
    valid_to=dt.date(2030, 12, 31),
    issued_at=dt.datetime(2029, 11, 25, 10, 0, 0),
)


@pytest.fixture(scope="module")
def keys() -> Keys:
    """Two RSA-3072 keys (the slow part) made once for the module."""
    return Keys(
        license=licfile.generate_license_key(),
        other_license=licfile.generate_license_key(),
        issuer=Ed25519PrivateKey.generate(),
        other_issuer=Ed25519PrivateKey.generate(),
    )


@pytest.fixture(scope="module")
def ec(keys: Keys) -> bytes:
    """A real .ec file of DOC."""
    return licfile.encode_ec(DOC.to_xml(), keys.license.public_key(), keys.issuer)


def decode(data: bytes, keys: Keys) -> licfile.LicenseDocument:
    return licfile.decode_ec(data, keys.license, keys.issuer.public_key())


def refusal(data: bytes, keys: Keys) -> str:
    """The message key decode_ec refuses `data` with (fails the test when it is accepted)."""
    with pytest.raises(LicenseError) as info:
        decode(data, keys)
    return info.value.key


def resign(data: bytes, signing: Ed25519PrivateKey, **changes: str) -> bytes:
    """Rewrite header fields of an .ec and sign it again properly (a forger holding the issuer key)."""
    lines = data.decode("ascii").split("\n")
    fields = dict(line.split(": ", 1) for line in lines[1:8])
    fields.update(changes)
    signed = licfile.BEGIN + "\n" + "".join(f"{n}: {fields[n]}\n" for n in licfile.HEADER_FIELDS)
    sig = base64.b64encode(signing.sign(signed.encode("ascii"))).decode()
    return (signed + f"Signature: {sig}\n" + licfile.END + "\n").encode("ascii")


# ------------------------------------------------------------------ accepted


def test_round_trip(ec: bytes, keys: Keys) -> None:
    assert decode(ec, keys) == DOC


def test_file_is_nine_ascii_lines_in_documented_order(ec: bytes) -> None:
    lines = ec.decode("ascii").splitlines()
    assert lines[0] == licfile.BEGIN
    assert lines[-1] == licfile.END
    assert [line.split(": ", 1)[0] for line in lines[1:8]] == [*licfile.HEADER_FIELDS, "Signature"]
    assert lines[1] == "Format: 1"
    assert ec.endswith(b"\n")


def test_plaintext_is_not_in_the_file(ec: bytes) -> None:
    assert b"ACME" not in ec
    assert b"Enterprise" not in ec
    assert b"ACME".hex().encode() not in ec


def test_crlf_line_endings_are_accepted(ec: bytes, keys: Keys) -> None:
    crlf = ec.replace(b"\n", b"\r\n")
    assert crlf != ec
    assert decode(crlf, keys) == DOC


def test_each_encoding_is_fresh(keys: Keys) -> None:
    """A new content key and nonce per file: two encodings of the same document differ."""
    first = licfile.encode_ec(DOC.to_xml(), keys.license.public_key(), keys.issuer)
    second = licfile.encode_ec(DOC.to_xml(), keys.license.public_key(), keys.issuer)
    assert first != second
    assert decode(first, keys) == decode(second, keys) == DOC


# ------------------------------------------------------------------ tampering


TAMPER_KEYS = {
    "license.not_ec",
    "license.truncated",
    "license.tampered",
    "license.foreign_issuer",
    "license.unsupported_format",
}


def changed_byte(byte: int, mode: str) -> int:
    if mode == "xor1":
        return byte ^ 0x01
    return ord("B") if byte == ord("A") else ord("A")


@pytest.mark.parametrize("mode", ["xor1", "letter"])
def test_every_byte_changed_is_refused(ec: bytes, keys: Keys, mode: str) -> None:
    """Flip (XOR 0x01) or replace (with 'A', or 'B' where it already is 'A') every byte position."""
    seen: dict[int, str] = {}
    for pos in range(len(ec)):
        new = changed_byte(ec[pos], mode)
        data = ec[:pos] + bytes([new]) + ec[pos + 1 :]
        try:
            decode(data, keys)
        except LicenseError as err:
            seen[pos] = err.key
        else:
            pytest.fail(f"byte {pos} changed ({mode}) and the file was still accepted")
    assert set(seen.values()) <= TAMPER_KEYS
    assert len(seen) == len(ec)
    # Positions in the signed header or the signature are reported as tampering (or a foreign issuer
    # when the change hits Issuer-Key-Id), never as a wrong key.
    assert "license.tampered" in seen.values()


def test_change_in_ciphertext_is_tampered(ec: bytes, keys: Keys) -> None:
    text = ec.decode("ascii")
    pos = text.index("Ciphertext: ") + len("Ciphertext: ") + 10
    data = (text[:pos] + ("A" if text[pos] != "A" else "B") + text[pos + 1 :]).encode()
    assert refusal(data, keys) == "license.tampered"


def test_change_in_signature_is_tampered(ec: bytes, keys: Keys) -> None:
    text = ec.decode("ascii")
    pos = text.index("Signature: ") + len("Signature: ") + 5
    data = (text[:pos] + ("A" if text[pos] != "A" else "B") + text[pos + 1 :]).encode()
    assert refusal(data, keys) == "license.tampered"


def test_non_canonical_base64_is_tampered(ec: bytes, keys: Keys) -> None:
    """The same signature bytes spelled differently (line wrapped) are refused."""
    text = ec.decode("ascii")
    start = text.index("Signature: ") + len("Signature: ")
    data = (text[:start] + " " + text[start:]).encode()
    assert refusal(data, keys) == "license.tampered"


def test_signature_with_changed_unused_bits_is_tampered(ec: bytes, keys: Keys) -> None:
    """Same signature bytes, another base64 spelling (unused low bits set): refused although it verifies."""
    text = ec.decode("ascii")
    sig_line = next(line for line in text.split("\n") if line.startswith("Signature: "))
    sig = sig_line[len("Signature: ") :]
    assert sig.endswith("==")  # 64 bytes: the last data character carries 4 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(sig[-3])
    respelled = sig[:-3] + alphabet[last | 0x01] + "=="
    if respelled == sig:
        respelled = sig[:-3] + alphabet[last | 0x02] + "=="
    assert base64.b64decode(respelled) == base64.b64decode(sig)
    data = text.replace(sig_line, "Signature: " + respelled).encode()
    assert refusal(data, keys) == "license.tampered"


def test_text_after_end_is_tampered(ec: bytes, keys: Keys) -> None:
    assert refusal(ec + b"extra\n", keys) == "license.tampered"


def test_extra_header_line_is_tampered(ec: bytes, keys: Keys) -> None:
    text = ec.decode("ascii").replace("Nonce:", "Comment: hi\nNonce:")
    assert refusal(text.encode(), keys) == "license.tampered"


def test_fields_swapped_are_tampered(ec: bytes, keys: Keys) -> None:
    lines = ec.decode("ascii").split("\n")
    lines[2], lines[3] = lines[3], lines[2]
    assert refusal("\n".join(lines).encode(), keys) == "license.tampered"


# ------------------------------------------------------------------ truncation and non-.ec input


def test_truncated_at_every_length(ec: bytes, keys: Keys) -> None:
    """Cut anywhere short of the final END line: truncated; cut to nothing: not an .ec at all."""
    assert refusal(b"", keys) == "license.not_ec"
    for n in range(1, len(ec) - 1):  # len-1 only drops the final line feed: still a whole file
        assert refusal(ec[:n], keys) == "license.truncated", f"cut at {n}"


def test_cut_after_begin_line_is_truncated(ec: bytes, keys: Keys) -> None:
    begin = len(licfile.BEGIN) + 1
    for n in (begin, begin + 5, len(ec) // 2, ec.index(b"Signature"), ec.index(licfile.END.encode()) + 5):
        assert refusal(ec[:n], keys) == "license.truncated"


def test_without_final_line_feed_is_accepted(ec: bytes, keys: Keys) -> None:
    assert decode(ec[:-1], keys) == DOC


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(random.Random(7).randbytes(2048), id="random-bytes"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", id="png-header"),
        pytest.param("-----BEGIN ECTUI LICENSE-----\nFormat: 1\n".encode("utf-16"), id="utf16-text"),
        pytest.param(b"hello, this is a text file\n", id="ascii-text"),
        pytest.param(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", id="pem"),
        pytest.param(b"-" * (licfile.MAX_FILE_BYTES + 1), id="over-size"),
    ],
)
def test_not_an_ec_file(data: bytes, keys: Keys) -> None:
    assert refusal(data, keys) == "license.not_ec"


def test_whole_ec_in_utf16_is_not_ec(ec: bytes, keys: Keys) -> None:
    assert refusal(ec.decode("ascii").encode("utf-16"), keys) == "license.not_ec"


# ------------------------------------------------------------------ keys and issuers


def test_another_license_key_is_wrong_key(ec: bytes, keys: Keys) -> None:
    with pytest.raises(LicenseError) as info:
        licfile.decode_ec(ec, keys.other_license, keys.issuer.public_key())
    assert info.value.key == "license.wrong_key"


def test_wrong_key_even_when_key_id_is_forged(ec: bytes, keys: Keys) -> None:
    """A file re-signed by the issuer claiming another installation's Key-Id still does not open."""
    forged = resign(ec, keys.issuer, **{"Key-Id": licfile.license_key_id(keys.other_license.public_key())})
    with pytest.raises(LicenseError) as info:
        licfile.decode_ec(forged, keys.other_license, keys.issuer.public_key())
    assert info.value.key == "license.wrong_key"


def test_another_issuer_is_foreign(keys: Keys) -> None:
    foreign = licfile.encode_ec(DOC.to_xml(), keys.license.public_key(), keys.other_issuer)
    assert refusal(foreign, keys) == "license.foreign_issuer"


def test_issuer_key_id_claimed_but_signature_of_another_key_is_tampered(ec: bytes, keys: Keys) -> None:
    """Signed by a stranger while claiming our issuer: tampered, not foreign."""
    own_id = licfile.issuer_key_id(keys.issuer.public_key())
    forged = resign(ec, keys.other_issuer, **{"Issuer-Key-Id": own_id})
    assert refusal(forged, keys) == "license.tampered"


def test_future_format_is_unsupported(ec: bytes, keys: Keys) -> None:
    future = resign(ec, keys.issuer, Format="2")
    with pytest.raises(LicenseError) as info:
        decode(future, keys)
    assert info.value.key == "license.unsupported_format"
    assert info.value.params["version"] == "2"
    assert "upgrade" in str(info.value)


def test_non_numeric_format_is_tampered(ec: bytes, keys: Keys) -> None:
    assert refusal(resign(ec, keys.issuer, Format="one"), keys) == "license.tampered"


# ------------------------------------------------------------------ the XML inside


def sealed(xml: bytes, keys: Keys) -> bytes:
    """Properly encrypted and signed: only the XML parser stands between it and the console."""
    return licfile.encode_ec(xml, keys.license.public_key(), keys.issuer)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<license format="1"><id>&lol9;</id></license>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE license [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<license format="1"><id>1</id><customer>&xxe;</customer></license>
"""

DTD_ONLY = b"""<?xml version="1.0"?>
<!DOCTYPE license SYSTEM "http://example.invalid/license.dtd">
<license format="1"><id>1</id></license>
"""


@pytest.mark.parametrize(
    "xml",
    [
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(EXTERNAL_ENTITY, id="external-entity"),
        pytest.param(DTD_ONLY, id="external-dtd"),
        pytest.param(b"<license format='1'><id>1</id>", id="not-well-formed"),
        pytest.param(b"not xml at all", id="not-xml"),
        pytest.param(DOC.to_xml().replace(b'format="1"', b'format="2"'), id="document-version-2"),
        pytest.param(DOC.to_xml().replace(b"<license ", b"<licence "), id="wrong-root"),
        pytest.param(
            DOC.to_xml().replace(b"<customer>ACME Cloud \xe4\xba\x91</customer>", b""), id="no-customer"
        ),
        pytest.param(DOC.to_xml().replace(b"<max-nodes>50<", b"<max-nodes>fifty<"), id="non-number-limit"),
        pytest.param(DOC.to_xml().replace(b"2030-12-31", b"2030-13-45"), id="bad-date"),
    ],
)
def test_bad_xml_inside_a_valid_file_is_malformed(xml: bytes, keys: Keys) -> None:
    assert refusal(sealed(xml, keys), keys) == "license.malformed"


def test_oversize_xml_is_malformed(keys: Keys) -> None:
    padding = b"<!--" + b"x" * licfile.MAX_XML_BYTES + b"-->"
    xml = DOC.to_xml().replace(b"</license>", padding + b"</license>")
    data = sealed(xml, keys)
    assert len(data) <= licfile.MAX_FILE_BYTES  # so the refusal comes from the XML limit, not the file limit
    with pytest.raises(LicenseError) as info:
        decode(data, keys)
    assert info.value.key == "license.malformed"
    assert str(licfile.MAX_XML_BYTES) in str(info.value)


def test_xml_just_under_limit_is_accepted(keys: Keys) -> None:
    base = DOC.to_xml()
    filler = licfile.MAX_XML_BYTES - len(base) - len(b"<!---->")
    xml = base.replace(b"</license>", b"<!--" + b"x" * filler + b"-->" + b"</license>")
    assert len(xml) == licfile.MAX_XML_BYTES
    assert decode(sealed(xml, keys), keys) == DOC


def test_document_xml_round_trip() -> None:
    assert licfile.LicenseDocument.from_xml(DOC.to_xml()) == DOC


# ------------------------------------------------------------------ key helpers


def test_key_ids_and_pem_helpers(keys: Keys) -> None:
    public = keys.license.public_key()
    assert len(licfile.license_key_id(public)) == 64
    assert licfile.license_key_id(public) != licfile.license_key_id(keys.other_license.public_key())
    again = licfile.load_public_key_pem(licfile.public_key_pem(public))
    assert licfile.license_key_id(again) == licfile.license_key_id(public)
    der = licfile.private_key_der(keys.license)
    assert licfile.license_key_id(licfile.load_private_key_der(der).public_key()) == licfile.license_key_id(
        public
    )
    assert keys.license.key_size >= 3072
