"""The provider as a whole: identity, property routing, digests (spec section "Digest"),
device directory errors, Python hosts, and the nested-libcrypto guard."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bridge_helpers import FIRST_USE, PROV

pytestmark = [pytest.mark.bridge, pytest.mark.openssl]

HERE = Path(__file__).resolve().parent
DATA = b"The quick brown fox jumps over the lazy dog\n" * 100


@pytest.fixture
def data(openssl):
    (openssl.cwd / "data.bin").write_bytes(DATA)
    return DATA


def test_list_providers_shows_identity(openssl):
    result = openssl(
        "list", "-providers", "-verbose", "-provider-path", openssl.provider_dir, "-provider", "azihsm_provider"
    )
    text = result.text
    assert "azihsm_provider" in text
    assert "name: azihsm" in text
    assert "status: active" in text
    version = next(line for line in text.splitlines() if "version:" in line).split(":", 1)[1]
    assert version.strip()
    assert "build info: azihsm-conformance reference HSM" in text
    assert "Python 3." in text and "pyca/cryptography" in text


# -- Digest -------------------------------------------------------------------------------


DIGEST_OPTIONS = [
    ("-sha1", "sha1"),
    ("-sha256", "sha256"),
    ("-sha384", "sha384"),
    ("-sha512", "sha512"),
    ("-SHA2-256", "sha256"),
    ("-SHA-384", "sha384"),
    ("-SHA2-512", "sha512"),
    ("-SHA-1", "sha1"),
]


@pytest.mark.parametrize("option, algorithm", DIGEST_OPTIONS, ids=[option.lstrip("-") for option, _ in DIGEST_OPTIONS])
def test_digest_documented(openssl, data, option, algorithm):
    """`openssl dgst -sha256 ${PROV} data.bin`, with the provider made mandatory so the
    answer cannot come from the default provider."""
    result = openssl("dgst", option, PROV, "-propquery", "provider=azihsm", "-r", "data.bin")
    assert result.text.split()[0] == hashlib.new(algorithm, DATA).hexdigest()


def test_digest_documented_flags(openssl, data):
    result = openssl("dgst", "-sha256", PROV, "data.bin")
    assert result.text.strip().endswith(hashlib.sha256(DATA).hexdigest())


def test_propquery_after_provider_works(openssl, data):
    result = openssl(
        "dgst",
        "-sha256",
        "-provider-path",
        openssl.provider_dir,
        "-provider",
        "default",
        "-provider",
        "azihsm_provider",
        "-propquery",
        "provider=azihsm",
        "-r",
        "data.bin",
    )
    assert result.text.split()[0] == hashlib.sha256(DATA).hexdigest()


def test_digest_oneshot_and_dupctx_in_python_host(provider_dir, device_dir):
    env = dict(os.environ, AZIHSM_DEVICE_DIR=str(device_dir))
    proc = subprocess.run(
        [sys.executable, str(HERE / "host_probe.py"), str(provider_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr  # also: no crash at interpreter exit
    assert "Traceback" not in proc.stderr
    assert proc.stdout.split("\n")[:6] == [
        "load: ok",
        "dupctx: ok",
        "oneshot: ok",
        "oneshot-small-buffer: ok",
        "library contexts: ok",
        "has-null-key: ok",
    ]


def test_key_params_seen_by_openssl(provider_dir, device_dir, ec_key):
    from cryptography.hazmat.primitives import serialization

    blob = ec_key("P-384")
    env = dict(os.environ, AZIHSM_DEVICE_DIR=str(device_dir))
    proc = subprocess.run(
        [sys.executable, str(HERE / "host_probe.py"), str(provider_dir), f"azihsm://{blob};type=ec"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    facts = dict(line.split(": ", 1) for line in proc.stdout.splitlines())
    assert facts["bits"] == "384" and facts["security_bits"] == "192"
    assert facts["size"] == "104"  # DER ECDSA-Sig-Value maximum
    assert facts["default-digest"] == "SHA384" and facts["group"] == "secp384r1"
    assert facts["match"] == "1"
    spki = subprocess.run(
        [
            "openssl",
            "pkey",
            "-provider-path",
            str(provider_dir),
            "-propquery",
            "?provider=azihsm",
            "-provider",
            "default",
            "-provider",
            "azihsm_provider",
            "-in",
            f"azihsm://{blob};type=ec",
            "-pubout",
            "-outform",
            "DER",
        ],
        capture_output=True,
        env=env,
        timeout=60,
    ).stdout
    public = serialization.load_der_public_key(spki)
    assert bytes.fromhex(facts["encoded-pub-key"]) == public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


# -- device directory ----------------------------------------------------------------------


def test_missing_device_dir_fails_the_first_use_naming_both_settings(openssl, tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    listed = openssl("list", "-providers", PROV, env={"AZIHSM_DEVICE_DIR": str(missing)})  # no device needed yet
    assert "azihsm" in listed.text
    result = openssl(*FIRST_USE, ok=False, env={"AZIHSM_DEVICE_DIR": str(missing)})
    assert str(missing) in result.stderr
    assert "AZIHSM_DEVICE_DIR" in result.stderr and "azihsm-device-dir" in result.stderr


def write_config(path: Path, provider_dir: Path, device_dir: Path | None) -> Path:
    extra = f"azihsm-device-dir = {device_dir}\n" if device_dir else ""
    path.write_text(
        "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
        "[provider_sect]\ndefault = default_sect\nazihsm = azihsm_sect\n"
        "[default_sect]\nactivate = 1\n"
        f"[azihsm_sect]\nmodule = {provider_dir / 'azihsm_provider.so'}\nactivate = 1\n{extra}"
    )
    return path


def test_device_dir_from_openssl_cnf(openssl, data, tmp_path):
    device = tmp_path / "cnf-device"
    device.mkdir()
    config = write_config(tmp_path / "openssl.cnf", openssl.provider_dir, device)
    env = {"OPENSSL_CONF": str(config), "AZIHSM_DEVICE_DIR": str(tmp_path / "not-this-one")}
    openssl(
        "genpkey",
        "-propquery",
        "?provider=azihsm",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "azihsm.masked_key:./k.bin",
        "-outform",
        "DER",
        "-out",
        "/dev/null",
        env=env,
    )
    assert any(device.iterdir())  # the device was provisioned where the config said


def test_nested_libcrypto_offers_nothing(openssl, ec_key, data, tmp_path):
    """pyca's own OpenSSL honours OPENSSL_CONF too: loading this provider from inside the
    provider's Python code must neither recurse nor hang."""
    config = write_config(tmp_path / "openssl.cnf", openssl.provider_dir, openssl.device_dir)
    env = {"OPENSSL_CONF": str(config)}
    (openssl.cwd / "k.bin").write_bytes(ec_key("P-256").read_bytes())
    openssl(
        "dgst",
        "-sha256",
        "-propquery",
        "?provider=azihsm",
        "-sign",
        "azihsm://./k.bin;type=ec",
        "-out",
        "s.sig",
        "data.bin",
        env=env,
    )
    assert (openssl.cwd / "s.sig").stat().st_size > 0
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cryptography.hazmat.primitives.asymmetric import ec;"
            "ec.generate_private_key(ec.SECP256R1()); print('ok')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, **env),
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "ok", probe.stderr


def test_fork_while_another_thread_uses_the_provider(provider_dir, device_dir, tmp_path):
    probe = tmp_path / "fork_probe"
    subprocess.run(
        ["gcc", "-O1", "-o", str(probe), str(HERE / "fork_probe.c"), "-lcrypto", "-lpthread"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    proc = subprocess.run(
        [str(probe), str(provider_dir), "100"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, AZIHSM_DEVICE_DIR=str(device_dir)),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "forks ok: 100/100"


# -- start-up failures end as "unable to load provider", never as exit() or a traceback ----


@pytest.mark.parametrize(
    "broken, fragment",
    [
        ("encodings", "cannot start the embedded Python"),
        ("azihsm_conformance", "cannot import the reference bridge"),
    ],
    ids=["interpreter", "bridge-import"],
)
def test_broken_python_environment_fails_load_cleanly(openssl, provider_mode, new_device, tmp_path, broken, fragment):
    if provider_mode == "server" and broken == "encodings":
        pytest.skip("the device server's interpreter is isolated (-I): PYTHONPATH-like variables cannot break it")
    openssl = openssl.at(device_dir=new_device())  # a new device: its server starts in the broken environment
    package = tmp_path / "shadow" / broken
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('raise ImportError("deliberately broken")\n')
    result = openssl(
        "dgst", "-sha256", PROV, "/dev/null", ok=False, env={"AZIHSM_BRIDGE_PYTHONPATH": str(tmp_path / "shadow")}
    )
    if provider_mode == "in-process":
        assert "unable to load provider azihsm_provider" in result.stderr
    else:  # the module loads without Python; the first call that needs the server fails
        assert "the device server for" in result.stderr and "could not start" in result.stderr
    assert fragment in result.stderr
