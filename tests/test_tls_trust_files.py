"""`kaskada serve --tls-cert` names the file clients must trust, and
`server add-client --save-profile` saves that file: the certificate itself only
when it holds its root (self-signed, or a chain file ending in the CA), else the
CA given with --tls-ca. Saving a leaf signed by a CA made every call fail with
"unable to get local issuer certificate" (Python 3.11, gRPC)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from tests.certs import Issued, chain_file
from tests.helpers import run_cli as run
from tests.helpers import saved_config as config


def save_and_use(server: Any, name: str) -> dict[str, Any]:
    saved = run("server", "add-client", "--account", name, "--db", str(server.db),
                "--scrypt-n", "16", "--save-profile", name)
    assert saved.returncode == 0, saved.stderr
    profile: dict[str, Any] = config()["profiles"][name]
    if profile.get("ca_bundle"):
        used = run("whoami", "--profile", name)
        assert used.returncode == 0, used.stderr
    return profile


@pytest.mark.real_keyring
def test_a_chain_file_is_trusted_as_it_is(
    real_keyring: str, start_server: Any, tmp_path: Path, ca: Issued, signed_leaf: Issued
) -> None:
    leaf = signed_leaf
    chain = chain_file(tmp_path, leaf, ca)
    server = start_server(tls_cert=chain, tls_key=leaf.key)
    assert f"--ca-bundle {chain}" in server.log()
    assert save_and_use(server, "chain")["ca_bundle"] == str(chain)


@pytest.mark.real_keyring
def test_a_leaf_signed_by_a_ca_names_the_ca(
    real_keyring: str, start_server: Any, ca: Issued, signed_leaf: Issued
) -> None:
    leaf = signed_leaf
    server = start_server(tls_cert=leaf.cert, tls_key=leaf.key, tls_ca=ca.cert)
    assert f"--ca-bundle {ca.cert}" in server.log()
    assert save_and_use(server, "with_ca")["ca_bundle"] == str(ca.cert)


@pytest.mark.real_keyring
def test_a_leaf_alone_is_never_offered_as_the_trust(
    real_keyring: str, start_server: Any, signed_leaf: Issued
) -> None:
    leaf = signed_leaf
    server = start_server(tls_cert=leaf.cert, tls_key=leaf.key)
    log = server.log()
    assert f"--ca-bundle {leaf.cert}" not in log
    assert "signed by a CA the file does not hold" in log and "--tls-ca CA.pem" in log
    saved = run("server", "add-client", "--account", "alone", "--db", str(server.db),
                "--scrypt-n", "16", "--save-profile", "alone")
    assert saved.returncode == 0, saved.stderr
    assert config()["profiles"]["alone"].get("ca_bundle") in (None, "")
    assert "--ca-bundle CA.pem" in saved.stderr


def test_the_suites_certificates_pass_strict_verification(
    ca: Issued, signed_leaf: Issued
) -> None:
    """Python 3.13 verifies with VERIFY_X509_STRICT by default ("Missing Authority
    Key Identifier" refused the old test CA): ask for it here on every Python."""
    import ssl

    leaf = signed_leaf
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(leaf.cert, leaf.key)
    client_side = ssl.create_default_context(cafile=str(ca.cert))
    client_side.verify_flags |= ssl.VERIFY_X509_STRICT
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_side.wrap_bio(to_client, to_server, server_hostname="localhost")
    server = server_side.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):  # a TLS 1.3 handshake takes two round trips
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        server_in.write(to_server.read())
        to_client.write(server_out.read())
    client.do_handshake()  # raises SSLCertVerificationError if strict checks refuse
    assert client.getpeercert()["subject"] == ((("commonName", "localhost"),),)
