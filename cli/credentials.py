"""A development certificate chain for signing Content Credentials: a root (the trust anchor the
worker validates against), an intermediate, and an ES256 signer with the key usages C2PA asks of
a claim signer. Production replaces all three with a chain from a CA on the C2PA trust list."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ORGANISATION = "Clearance development (not for production)"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANISATION),
        ]
    )


def _key_usage(*, sign_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not sign_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=sign_certificates,
        crl_sign=sign_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    days: int,
    path_length: int | None = None,
    authority: bool = True,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=authority, path_length=path_length), critical=True)
        .add_extension(_key_usage(sign_certificates=authority), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if not authority:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def write_dev_chain(chain: Path, key: Path, anchors: Path) -> None:
    """Make a root, an intermediate and a signer; write the signer's chain (leaf first), its key
    (readable by the owner only) and the root as the trust anchor."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _certificate("Clearance dev root CA", root_key, None, root_key, days=3650)
    middle_key = ec.generate_private_key(ec.SECP256R1())
    middle = _certificate("Clearance dev intermediate CA", middle_key, root, root_key, 3650, path_length=0)
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = _certificate(
        "Clearance generator (dev)", signer_key, middle, middle_key, days=825, authority=False
    )
    for path in (chain, key, anchors):
        path.parent.mkdir(parents=True, exist_ok=True)
    chain.write_bytes(_pem(signer) + _pem(middle))
    anchors.write_bytes(_pem(root))
    key.touch(mode=0o600)
    key.write_bytes(
        signer_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
