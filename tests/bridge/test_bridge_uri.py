"""The azihsm:// grammar as a pure function: any input either parses or raises the
bridge's own one-line error (never anything else)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azihsm_conformance.reference.bridge.errors import BridgeError, BridgeReason
from azihsm_conformance.reference.bridge.store import parse_uri

pytestmark = pytest.mark.bridge


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("azihsm://./k.bin;type=ec", ("./k.bin", "ec")),
        ("azihsm:///var/lib/azihsm/server_key.bin;type=rsa", ("/var/lib/azihsm/server_key.bin", "rsa")),
        ("azihsm://./rsa_pss_key.bin;type=rsa-pss", ("./rsa_pss_key.bin", "rsa-pss")),
        ("azihsm://k.bin;Type=RSA-PSS;x=y", ("k.bin", "rsa-pss")),
        ("azihsm://k.bin;;noequals;type=rsa;type=ec", ("k.bin", "ec")),
    ],
    ids=["relative", "absolute", "rsa-pss", "case-and-unknown", "last-type-wins"],
)
def test_parse_uri(uri, expected):
    assert parse_uri(uri) == expected


@given(st.text(max_size=80))
def test_any_text_parses_or_fails_cleanly(tail):
    for uri in (tail, "azihsm://" + tail):
        try:
            path, key_type = parse_uri(uri)
        except BridgeError as exc:
            assert exc.reason == BridgeReason.INVALID_URI
            assert "\n" not in str(exc)
        else:
            assert path and ";" not in path
            assert key_type in ("ec", "rsa", "rsa-pss")
