"""The .ec license file: license XML, hybrid-encrypted for the license key, signed by the issuer.

Format version 1 is documented in docs/license-format.md. Decoding checks, in order: framing,
format version, issuer, signature, installation key, decryption, then the XML (hardened parser).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ectui.services.errors import LicenseError

FORMAT_VERSION = 1
BEGIN = "-----BEGIN ECTUI LICENSE-----"
END = "-----END ECTUI LICENSE-----"
HEADER_FIELDS = ("Format", "Key-Id", "Issuer-Key-Id", "Wrapped-Key", "Nonce", "Ciphertext")
MAX_FILE_BYTES = 256 * 1024
MAX_XML_BYTES = 64 * 1024
RSA_BITS = 3072
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


# ------------------------------------------------------------------ keys


def generate_license_key() -> rsa.RSAPrivateKey:
    """A new RSA-3072 key pair for one license."""
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def license_key_id(public_key: rsa.RSAPublicKey) -> str:
    """SHA-256 (hex) of the SubjectPublicKeyInfo DER of a license public key."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def issuer_key_id(public_key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte issuer verification key."""
    return hashlib.sha256(public_raw(public_key)).hexdigest()


def public_raw(public_key: Ed25519PublicKey) -> bytes:
    """The raw 32 bytes of an Ed25519 public key."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_key_der(key: rsa.RSAPrivateKey) -> bytes:
    """Unencrypted PKCS#8 DER (callers encrypt it before it touches a disk)."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key_der(der: bytes, *, trusted: bool = False) -> rsa.RSAPrivateKey:
    """Load a PKCS#8 DER RSA private key; `trusted` skips the costly prime checks for keys we sealed ourselves."""
    key = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=trusted)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    """PEM text of a license public key."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key_pem(pem: str) -> rsa.RSAPublicKey:
    """Load a license public key from PEM."""
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


# ------------------------------------------------------------------ the document


@dataclass(frozen=True)
class LicenseDocument:
    """What a license says: who, which edition, limits, features and validity."""

    license_id: str
    customer: str
    edition: str
    max_clusters: int
    max_nodes: int
    storage: tuple[str, ...]
    grace_days: int
    features: tuple[str, ...]
    valid_from: dt.date
    valid_to: dt.date
    issued_at: dt.datetime

    def to_xml(self) -> bytes:
        """Serialise as the license XML of format version 1."""
        root = ET.Element("license", {"format": str(FORMAT_VERSION)})
        for tag, value in (
            ("id", self.license_id),
            ("customer", self.customer),
            ("edition", self.edition),
        ):
            ET.SubElement(root, tag).text = value
        limits = ET.SubElement(root, "limits")
        ET.SubElement(limits, "max-clusters").text = str(self.max_clusters)
        ET.SubElement(limits, "max-nodes").text = str(self.max_nodes)
        ET.SubElement(limits, "grace-days").text = str(self.grace_days)
        storage = ET.SubElement(limits, "storage")
        for mode in self.storage:
            ET.SubElement(storage, "mode").text = mode
        features = ET.SubElement(root, "features")
        for code in self.features:
            ET.SubElement(features, "feature").text = code
        validity = ET.SubElement(root, "validity")
        ET.SubElement(validity, "from").text = self.valid_from.isoformat()
        ET.SubElement(validity, "to").text = self.valid_to.isoformat()
        ET.SubElement(root, "issued-at").text = self.issued_at.replace(microsecond=0).isoformat()
        body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body

    @classmethod
    def from_xml(cls, data: bytes) -> LicenseDocument:
        """Parse license XML with DTDs, entities and external references refused, size-limited."""
        import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]
        from defusedxml import DefusedXmlException

        if len(data) > MAX_XML_BYTES:
            raise LicenseError("license.malformed", reason=f"document larger than {MAX_XML_BYTES} bytes")
        try:
            root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except DefusedXmlException as err:
            raise LicenseError(
                "license.malformed", reason="DTD or entity declarations are not allowed"
            ) from err
        except ET.ParseError as err:
            raise LicenseError("license.malformed", reason=f"XML error {err}") from err
        try:
            if root.tag != "license" or root.get("format") != str(FORMAT_VERSION):
                raise ValueError("not a version 1 license document")
            return cls(
                license_id=_text(root, "id"),
                customer=_text(root, "customer"),
                edition=_text(root, "edition"),
                max_clusters=int(_text(root, "limits/max-clusters")),
                max_nodes=int(_text(root, "limits/max-nodes")),
                grace_days=int(_text(root, "limits/grace-days")),
                storage=tuple((e.text or "").strip() for e in root.findall("limits/storage/mode")),
                features=tuple((e.text or "").strip() for e in root.findall("features/feature")),
                valid_from=dt.date.fromisoformat(_text(root, "validity/from")),
                valid_to=dt.date.fromisoformat(_text(root, "validity/to")),
                issued_at=dt.datetime.fromisoformat(_text(root, "issued-at")),
            )
        except ValueError as err:
            raise LicenseError("license.malformed", reason=str(err)) from err


def _text(root: ET.Element, path: str) -> str:
    node = root.find(path)
    if node is None or node.text is None:
        raise ValueError(f"missing <{path}>")
    return node.text.strip()


# ------------------------------------------------------------------ the file


def encode_ec(xml: bytes, license_public: rsa.RSAPublicKey, signing_key: Ed25519PrivateKey) -> bytes:
    """Encrypt license XML for a license key (RSA-OAEP-SHA256 wraps AES-256-GCM) and sign the file."""
    content_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    wrapped = license_public.encrypt(content_key, _OAEP)
    fields = {
        "Format": str(FORMAT_VERSION),
        "Key-Id": license_key_id(license_public),
        "Issuer-Key-Id": issuer_key_id(signing_key.public_key()),
        "Wrapped-Key": _b64(wrapped),
        "Nonce": _b64(nonce),
    }
    aad = _aad(fields)
    fields["Ciphertext"] = _b64(AESGCM(content_key).encrypt(nonce, xml, aad))
    signed = BEGIN + "\n" + "".join(f"{name}: {fields[name]}\n" for name in HEADER_FIELDS)
    signature = signing_key.sign(signed.encode("ascii"))
    return (signed + f"Signature: {_b64(signature)}\n" + END + "\n").encode("ascii")


def decode_ec(
    data: bytes, license_private: rsa.RSAPrivateKey, issuer_public: Ed25519PublicKey
) -> LicenseDocument:
    """Verify and decrypt an .ec file; raise LicenseError with the plain reason it is refused."""
    xml = open_ec(data, license_private, issuer_public)
    return LicenseDocument.from_xml(xml)


def open_ec(data: bytes, license_private: rsa.RSAPrivateKey, issuer_public: Ed25519PublicKey) -> bytes:
    """Verify and decrypt an .ec file into its XML bytes."""
    fields, signed, signature_text = _parse_frame(data)
    version = fields["Format"]
    if version != str(FORMAT_VERSION):
        if version.isdigit():
            raise LicenseError("license.unsupported_format", version=version)
        raise LicenseError("license.tampered")
    signature = _b64decode(signature_text)
    try:
        issuer_public.verify(signature, signed)
    except InvalidSignature as err:
        claimed = fields["Issuer-Key-Id"]
        if claimed != issuer_key_id(issuer_public) and _is_hex64(claimed):
            raise LicenseError("license.foreign_issuer") from err
        raise LicenseError("license.tampered") from err
    if fields["Key-Id"] != license_key_id(license_private.public_key()):
        raise LicenseError("license.wrong_key")
    try:
        content_key = license_private.decrypt(_b64decode(fields["Wrapped-Key"]), _OAEP)
        nonce = _b64decode(fields["Nonce"])
        return AESGCM(content_key).decrypt(nonce, _b64decode(fields["Ciphertext"]), _aad(fields))
    except (ValueError, InvalidTag) as err:
        raise LicenseError("license.wrong_key") from err


def _parse_frame(data: bytes) -> tuple[dict[str, str], bytes, str]:
    if len(data) > MAX_FILE_BYTES:
        raise LicenseError("license.not_ec")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as err:
        raise LicenseError("license.not_ec") from err
    text = text.replace("\r\n", "\n")
    if not text.startswith(BEGIN + "\n"):
        if text and (BEGIN + "\n").startswith(text):
            raise LicenseError("license.truncated")
        raise LicenseError("license.not_ec")
    lines = text.split("\n")
    try:
        end = lines.index(END)
    except ValueError as err:
        raise LicenseError("license.truncated") from err
    if lines[end + 1 :] not in ([], [""]):
        raise LicenseError("license.tampered")
    body = lines[1:end]
    names = (*HEADER_FIELDS, "Signature")
    if len(body) != len(names):
        raise LicenseError("license.truncated" if len(body) < len(names) else "license.tampered")
    fields: dict[str, str] = {}
    for name, line in zip(names, body, strict=True):
        prefix = f"{name}: "
        if not line.startswith(prefix) or not line[len(prefix) :]:
            raise LicenseError("license.tampered")
        fields[name] = line[len(prefix) :]
    signed = "\n".join(lines[: 1 + len(HEADER_FIELDS)]) + "\n"
    return fields, signed.encode("ascii"), fields["Signature"]


def _aad(fields: dict[str, str]) -> bytes:
    """The ciphertext is bound to the header fields before it."""
    return "\n".join(f"{name}: {fields[name]}" for name in HEADER_FIELDS[:-1]).encode("ascii")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict, canonical base64: any other spelling of the same bytes is refused as tampering."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise LicenseError("license.tampered") from err
    if _b64(raw) != text:
        raise LicenseError("license.tampered")
    return raw


def _is_hex64(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
