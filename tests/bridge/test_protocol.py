"""The device-server protocol read off externs.h, and the server's side of it in-process
(no openssl, no socket): what the C stubs and the server both rely on."""

from __future__ import annotations

import pytest

from azihsm_conformance.reference.bridge import protocol, server


def test_every_externs_h_function_has_a_wire_form():
    functions = protocol.functions()
    assert [f.index for f in functions] == list(range(len(functions)))
    for function in functions:
        covered = [param for _kind, params in function.kinds for param in params]
        assert covered == list(function.params), function.name
    names = {f.name for f in functions}
    assert protocol.LOCAL <= names


@pytest.mark.parametrize(
    "declaration, kinds",
    [
        ("int py_x(void *ctx, unsigned char *out, size_t *outl, size_t outsz)", ["HANDLE", "OUTBUF"]),
        (
            "int py_x(void *ctx, unsigned char *key, size_t keylen, const OSSL_PARAM params[])",
            ["HANDLE", "FIXEDOUT", "PARAMS"],
        ),  # fmt: skip
        ("int py_x(int instance, const char *name, const unsigned char *in, size_t inl)", ["INSTANCE", "STR", "BYTES"]),
        ("int py_x(void *key, int selection, OSSL_CALLBACK *cb, void *cbarg)", ["HANDLE", "INT", "CALLBACK"]),
        ("void py_x(void *cprov, int *instance)", ["PROVIDER", "INT_OUT"]),
    ],
)
def test_argument_kinds_are_read_off_the_declaration(declaration, kinds):
    (function,) = protocol.functions(declaration + ";")
    assert [kind for kind, _ in function.kinds] == kinds


def test_a_parameter_without_a_wire_form_is_named():
    with pytest.raises(ValueError, match="py_x: no wire form for parameter double x"):
        protocol.functions("int py_x(double x);")


def test_a_frame_that_is_cut_short_is_a_protocol_error():
    reader = protocol.Reader(b"\x01\x00")
    with pytest.raises(protocol.ProtocolError, match="truncated"):
        reader.u32()


def test_the_rehearsal_runs_every_common_request_through_a_session(tmp_path):
    """A short client's requests, decoded and answered as the server does, against a
    scratch device: a digest, an EC key, a signature, parameters and the SPKI encoding."""
    from azihsm_conformance.reference.bridge import runtime

    device = tmp_path / "device"
    device.mkdir(mode=0o700)
    saved = runtime.ffi, runtime.lib  # the server's stand-ins replace them for this process
    try:
        server._rehearse(str(device))
    finally:
        runtime.ffi, runtime.lib = saved
    assert (device / "rehearsal.bin").stat().st_size > 0
    assert runtime._instances == {}, "the rehearsal left an instance behind"
