"""The hostile-input campaign (``--azihsm-level hostile``): generated inputs, through the
``openssl`` command line, against any backend.

Each family below feeds ``--azihsm-hostile-budget`` inputs (hypothesis, seeded by
``--azihsm-hostile-seed``, so a campaign replays exactly) and judges every one with
``harness.hostile``: a crash, a hang, a traceback, an internal error, an error without
text, or an input that must be refused being accepted, is a finding. Findings are kept
among the case's commands (replayable); every other input is only counted, and the counts
per class are the case's recorded observation.
"""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from azihsm_conformance.conformance import commands, oracle
from azihsm_conformance.harness.evidence import provider_errors
from azihsm_conformance.harness.hostile import CLEAN_ERROR, SUCCESS, Tally, leaked
from azihsm_conformance.harness.markers import PROV

pytestmark = pytest.mark.hostile
SHORT_TIMEOUT = 10.0  # seconds: the files family must end promptly, a FIFO must not block


def campaign(hostile_settings, **strategies):
    """A hypothesis runner of BUDGET examples with the campaign's seed, for a function of the
    given strategies."""

    def decorate(function):
        runner = settings(
            max_examples=hostile_settings.budget,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
        )(given(**strategies)(function))
        return seed(hostile_settings.seed)(runner)

    return decorate


def conclude(tally: Tally, openssl, observe) -> None:
    """Record the family's counts; fail with its findings (each with its replay line)."""
    observe(tally.summary())
    if tally.findings:
        listed = "\n".join(f"- {f.what}\n  replay: {f.command_line}" for f in tally.findings[:10])
        more = f"\n... and {len(tally.findings) - 10} more" if len(tally.findings) > 10 else ""
        pytest.fail(
            f"{tally.family}: {tally.summary()}\n{listed}{more}",
            pytrace=False,
        )


def judge(tally: Tally, openssl, result, what: str, **options) -> str:
    kind = tally.judge(result, what, **options)
    if tally.findings and tally.findings[-1].command_line == result.command_line:
        openssl.keep(result)
    return kind


# ----------------------------------------------------------------- masked blobs

MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("extend"), st.binary(min_size=1, max_size=64), st.just(0)),
    st.tuples(st.just("forge-header"), st.binary(min_size=1, max_size=32), st.just(0)),
)


def mutate(blob: bytes, mutation) -> bytes:
    kind, value, bit = mutation
    if kind == "flip":
        position = min(int(value * len(blob)), len(blob) - 1)
        return blob[:position] + bytes([blob[position] ^ (1 << bit)]) + blob[position + 1 :]
    if kind == "truncate":
        return blob[: int(value * len(blob))]
    if kind == "extend":
        return blob + value
    return value + blob[len(value) :]  # forged header: the first bytes replaced


@pytest.mark.clause("HOSTILE-BLOBS")
def test_mutated_blobs_are_refused(openssl, workdir, keys, hostile_settings, observe):
    tally = Tally("blobs")
    blobs = {"ec": keys.generated_ec("P-256"), "rsa": keys.imported_rsa(2048)}

    @campaign(hostile_settings, kind=st.sampled_from(sorted(blobs)), mutation=MUTATIONS)
    def one(kind, mutation):
        key = blobs[kind]
        original = key.blob.read_bytes()
        mutated = mutate(original, mutation)
        if mutated == original:
            return
        tally.inputs += 1
        name = f"m{tally.inputs}.bin"
        (workdir / name).write_bytes(mutated)
        result = openssl.attempt(
            "pkey",
            PROV,
            "-in",
            f"azihsm://./{name};type={key.type}",
            "-pubout",
            "-outform",
            "DER",
            "-out",
            f"{name}.der",
        )
        if judge(tally, openssl, result, f"{kind} blob, {mutation[0]}", must_refuse=True) == CLEAN_ERROR:
            tally.notes["mutated blobs refused"] += 1

    one()
    conclude(tally, openssl, observe)


# ----------------------------------------------------------------- URIs

# what a path or attribute may hold: anything argv can carry (no NUL), control characters,
# separators, non-ASCII
URI_TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=80)
CONTROL = set("\x1b\x07\x08\x0b\x0c\x7f")


@pytest.mark.clause("HOSTILE-URIS")
def test_hostile_uris_end_cleanly(openssl, workdir, keys, hostile_settings, observe):
    tally = Tally("URIs")
    keys.imported_ec("P-384").copy_to(workdir, "k.bin")
    parts = st.tuples(
        st.one_of(st.just("./k.bin"), st.just(str(workdir / "k.bin")), URI_TEXT),
        st.lists(
            st.one_of(
                st.just("type=ec"),
                st.just("type=rsa"),
                st.just("type=rsa-pss"),
                URI_TEXT.map(lambda t: f"type={t}"),
                URI_TEXT,
            ),
            max_size=4,
        ),
        st.sampled_from(["storeutl", "pkey"]),
    )

    @campaign(hostile_settings, uri=parts)
    def one(uri):
        path, attributes, command = uri
        text = "azihsm://" + path + "".join(f";{attribute}" for attribute in attributes)
        tally.inputs += 1
        args = (
            ("storeutl", PROV, text)
            if command == "storeutl"
            else ("pkey", PROV, "-in", text, "-pubout", "-outform", "DER", "-out", "u.der")
        )
        result = openssl.attempt(*args)
        judge(tally, openssl, result, f"{command} {text!r}")
        # the provider's own messages only: openssl's lines echo the URI as given
        said = "".join(error.reason + error.data for error in provider_errors(result, openssl.backend.error_pattern))
        if CONTROL & set(text) and CONTROL & set(said):
            tally.finding(f"{command} {text!r}: control characters echoed raw in the error", result.command_line)
            openssl.keep(result)

    one()
    conclude(tally, openssl, observe)


# ----------------------------------------------------------------- parameters

VALUES = st.one_of(
    st.text(max_size=40).filter(lambda t: "\x00" not in t),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(
        [
            "",
            "P-256",
            "P-999",
            "true",
            "TRUE",
            "on",
            "SHA256",
            "SHA1",
            "MD5",
            "aes",
            "hmac",
            "0",
            "-1",
            "256",
            "385",
            "99999999999",
            "digitalSignature",
            "keyEncipherment",
        ]
    ),
)


@pytest.mark.clause("HOSTILE-PARAMETERS")
def test_hostile_parameters_end_cleanly(openssl, workdir, keys, backend, hostile_settings, observe):
    tally = Tally("parameters")
    later = backend.claims_revision("2026-08")  # KBKDF, mode, mac, key_kind exist from 2026-08
    keys.shared_secret("P-256").copy_to(workdir, "secret.bin")
    keys.derived_key("sha256", "hmac").copy_to(workdir, "hmac.bin")
    (workdir / "data.bin").write_bytes(b"hostile parameters")
    genpkey = ("group", "azihsm.session", "azihsm.key_usage", "rsa_keygen_bits")
    kdf = ("digest", "derived_key_type", "derived_key_bits", "hexsalt", "hexinfo", "output_file")
    if later:
        genpkey += ("azihsm.key_kind", "azihsm.wrapped_key")
        kdf += ("mode", "mac", "hexkey")
    targets = ["genpkey-ec", "genpkey-rsa", "kdf", "mac"] + (["kbkdf"] if later else [])

    @campaign(
        hostile_settings,
        target=st.sampled_from(targets),
        name=st.sampled_from(genpkey + kdf),
        value=VALUES,
    )
    def one(target, name, value):
        tally.inputs += 1
        out = f"p{tally.inputs}.bin"
        if target.startswith("genpkey"):
            algorithm = "EC" if target == "genpkey-ec" else "RSA"
            args = (
                "genpkey",
                PROV,
                "-algorithm",
                algorithm,
                "-pkeyopt",
                f"{name}:{value}",
                "-pkeyopt",
                f"azihsm.masked_key:{out}",
                "-outform",
                "DER",
                "-out",
                "/dev/null",
            )
        elif target in ("kdf", "kbkdf"):
            args = (
                "kdf",
                PROV,
                "-keylen",
                "4096",
                "-kdfopt",
                "azihsm.ikm_file:./secret.bin",
                "-kdfopt",
                f"{name}:{value}",
                "-binary",
                "-out",
                "/dev/null",
                "KBKDF" if target == "kbkdf" else "HKDF",
            )
        else:
            args = ("mac", PROV, "-digest", value or "SHA256", "-macopt", "key:./hmac.bin", "-in", "data.bin", "HMAC")
        judge(tally, openssl, openssl.attempt(*args), f"{target} {name}={value!r}")

    one()
    conclude(tally, openssl, observe)


# ----------------------------------------------------------------- key imports


@pytest.mark.clause("HOSTILE-IMPORTS")
def test_mutated_key_imports_end_cleanly(openssl, workdir, software_keys, backend, hostile_settings, observe):
    """Mutated DER private keys through azihsm.input_key (SEC1/PKCS#8 EC, PKCS#1 RSA and, from
    2026-08, an RSA key without CRT components in the plain form) end cleanly; a mutated blob
    wrapped for the device (2026-08) is never imported."""
    tally = Tally("imports")
    later = backend.claims_revision("2026-08")
    rsa_key = software_keys.rsa(2048)
    sources = {
        "ec-pkcs8": (oracle.private_der(software_keys.ec("P-256"), "pkcs8"), ("EC", "group:P-256")),
        "ec-sec1": (oracle.private_der(software_keys.ec("P-384"), "sec1"), ("EC", "group:P-384")),
        "rsa-pkcs1": (oracle.private_der(rsa_key, "pkcs1"), ("RSA", "rsa_keygen_bits:2048")),
    }
    if later:
        sources["rsa-no-crt"] = (oracle.rsa_der_without_crt(rsa_key), ("RSA", "rsa_keygen_bits:2048"))
        openssl(
            "genpkey",
            PROV,
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "azihsm.key_usage:keyWrapping",
            "-outform",
            "PEM",
            "-out",
            "wrap_pub.pem",
            prerequisite=True,
        )
        wrapping = (workdir / "wrap_pub.pem").read_bytes()
        sources["wrapped"] = (
            oracle.wrap_for_device(wrapping, oracle.private_der(software_keys.ec("P-256"), "pkcs8")),
            ("EC", "group:P-256"),
        )

    @campaign(hostile_settings, source=st.sampled_from(sorted(sources)), mutation=MUTATIONS)
    def one(source, mutation):
        original, (algorithm, size) = sources[source]
        mutated = mutate(original, mutation)
        if mutated == original:
            return
        tally.inputs += 1
        name = f"i{tally.inputs}.der"
        (workdir / name).write_bytes(mutated)
        option = "azihsm.wrapped_key" if source == "wrapped" else "azihsm.input_key"
        extra = ("-pkeyopt", "azihsm.key_kind:RSA") if source == "rsa-no-crt" else ()
        result = openssl.attempt(
            "genpkey",
            PROV,
            "-algorithm",
            algorithm,
            "-pkeyopt",
            size,
            "-pkeyopt",
            f"{option}:./{name}",
            *extra,
            "-pkeyopt",
            f"azihsm.masked_key:./{name}.bin",
            "-outform",
            "DER",
            "-out",
            "/dev/null",
        )
        kind = judge(tally, openssl, result, f"{source}, {mutation[0]}", must_refuse=source == "wrapped")
        if source == "wrapped" and kind == CLEAN_ERROR:
            tally.notes["mutated wrapped blobs refused"] += 1

    one()
    conclude(tally, openssl, observe)


# ----------------------------------------------------------------- peer keys

CURVE_OIDS = {
    "P-256": "06082a8648ce3d030107",
    "P-384": "06052b81040022",
    "P-521": "06052b81040023",
    "secp256k1": "06052b8104000a",
}


def spki(curve_oid_hex: str, point: bytes) -> bytes:
    def der(tag: int, body: bytes) -> bytes:
        length = len(body)
        header = (
            bytes([length])
            if length < 0x80
            else bytes([0x80 | ((length.bit_length() + 7) // 8)])
            + length.to_bytes((length.bit_length() + 7) // 8, "big")
        )
        return bytes([tag]) + header + body

    algorithm = der(0x30, bytes.fromhex("06072a8648ce3d0201") + bytes.fromhex(curve_oid_hex))
    return der(0x30, algorithm + der(0x03, b"\x00" + point))


@pytest.mark.clause("HOSTILE-PEERS")
def test_hostile_peers_end_cleanly(openssl, workdir, keys, backend, hostile_settings, observe):
    tally = Tally("peers")
    agreers = {curve: keys.ec(curve, "keyAgreement") for curve in ("P-256", "P-384")}

    @campaign(
        hostile_settings,
        curve=st.sampled_from(sorted(agreers)),
        declared=st.sampled_from(sorted(CURVE_OIDS)),
        prefix=st.sampled_from([b"\x04", b"\x02", b"\x03", b"\x00", b""]),
        body=st.binary(max_size=140),
    )
    def one(curve, declared, prefix, body):
        tally.inputs += 1
        peer = f"peer{tally.inputs}.der"
        encoded = spki(CURVE_OIDS[declared], prefix + body)
        (workdir / peer).write_bytes(encoded)
        result = openssl.attempt(
            *commands.derive_as_backend_does(
                backend, agreers[curve].uri(workdir), peer, f"s{tally.inputs}", peer_form="DER"
            )
        )
        kind = judge(tally, openssl, result, f"{curve} key, peer on {declared} {(prefix + body).hex()[:40]}")
        if kind == SUCCESS:
            try:
                loaded = oracle.load_public(encoded)
                valid = (
                    isinstance(loaded, ec.EllipticCurvePublicKey)
                    and oracle.CURVE_BY_NAME.get(loaded.curve.name) == curve
                )
            except Exception:  # noqa: BLE001 - pyca refuses the encoding: not a valid peer
                valid = False
            if not valid:
                tally.finding(f"{curve} key derived with an invalid peer on {declared}", result.command_line)
                openssl.keep(result)

    one()
    conclude(tally, openssl, observe)


# ----------------------------------------------------------------- special files

SPECIAL = ("fifo", "directory", "dev-zero", "symlink-to-fifo", "oversized", "empty")
INPUTS = ("uri", "input_key", "ikm_file", "mac_key")
OUTPUTS = ("masked_key-fifo", "masked_key-device", "output_file-fifo", "output_file-directory")


def make_special(directory, name: str, kind: str):
    path = directory / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "symlink-to-fifo":
        os.mkfifo(directory / f"{name}.fifo")
        path.symlink_to(directory / f"{name}.fifo")
    elif kind == "oversized":
        path.write_bytes(os.urandom(70 * 1024))
    elif kind == "device":
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # a /dev/null twin (needs root)
    else:
        path.write_bytes(b"")
    return path


@pytest.mark.clause("HOSTILE-FILES")
def test_special_files_end_promptly(openssl, workdir, keys, hostile_settings, observe):
    tally = Tally("files")
    keys.shared_secret("P-256").copy_to(workdir, "secret.bin")
    (workdir / "data.bin").write_bytes(b"special files")
    root = os.geteuid() == 0
    cases = [("in", where, kind) for where in INPUTS for kind in SPECIAL] + [
        ("out", target, "") for target in OUTPUTS if root or "device" not in target
    ]

    @campaign(hostile_settings, case=st.sampled_from(cases))
    def one(case):
        direction, where, kind = case
        tally.inputs += 1
        name = f"f{tally.inputs}"
        if direction == "in":
            make_special(workdir, name, kind)
            args = {
                "uri": (
                    "pkey",
                    PROV,
                    "-in",
                    f"azihsm://./{name};type=ec",
                    "-pubout",
                    "-outform",
                    "DER",
                    "-out",
                    "x.der",
                ),
                "input_key": (
                    "genpkey",
                    PROV,
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    f"azihsm.input_key:./{name}",
                    "-pkeyopt",
                    "azihsm.masked_key:./x.bin",
                    "-outform",
                    "DER",
                    "-out",
                    "/dev/null",
                ),
                "ikm_file": commands.hkdf_args(f"./{name}", output_file="./x.bin"),
                "mac_key": ("mac", PROV, "-digest", "SHA256", "-macopt", f"key:./{name}", "-in", "data.bin", "HMAC"),
            }[where]
            what = f"{kind} as {where}"
        else:
            option, special = where.split("-")
            target = make_special(workdir, name, "fifo" if special == "fifo" else special)
            args = (
                (
                    "genpkey",
                    PROV,
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    f"azihsm.masked_key:./{name}",
                    "-outform",
                    "DER",
                    "-out",
                    "/dev/null",
                )
                if option == "masked_key"
                else commands.hkdf_args("./secret.bin", output_file=f"./{name}")
            )
            what = f"{special} as {option}"
        result = openssl.attempt(*args, timeout=SHORT_TIMEOUT)
        judge(tally, openssl, result, what)
        if direction == "out":
            mode = os.lstat(target).st_mode
            if stat.S_ISREG(mode):
                tally.finding(f"{what}: the existing {special} was replaced by a regular file", result.command_line)
                openssl.keep(result)

    one()
    conclude(tally, openssl, observe)


# ----------------------------------------------------------------- environment

ENVIRONMENTS = st.fixed_dictionaries(
    {},
    optional={
        "AZIHSM_DEVICE_DIR": st.sampled_from(
            ["/nonexistent/device", "/etc/passwd", "relative/device", "/tmp/ünïcode-device", "/" + "d" * 300, ""]
        ),
        "OPENSSL_CONF": st.sampled_from(["/nonexistent.cnf", "/etc/passwd", "/dev/null"]),
        "PYTHONHOME": st.sampled_from(["/nonexistent", "/"]),
        "PYTHONPATH": st.sampled_from(["/nonexistent", "/etc"]),
        "LC_ALL": st.sampled_from(["C", "C.UTF-8", "xx_YY.bogus"]),
        "AZIHSM_PYTHON": st.sampled_from(["/nonexistent/python", "/bin/false"]),
    },
)


@pytest.mark.clause("HOSTILE-ENVIRONMENT")
def test_hostile_environment_ends_cleanly(openssl, workdir, hostile_settings, observe):
    tally = Tally("environment")
    (workdir / "data.bin").write_bytes(b"hostile environment")

    # the device opens on the first operation that needs it: genpkey reaches that path
    commands_by_name = {
        "list": ("list", "-providers", PROV),
        "dgst": ("dgst", "-sha256", PROV, "data.bin"),
        "genpkey": (
            "genpkey",
            PROV,
            "-algorithm",
            "EC",
            "-pkeyopt",
            "group:P-256",
            "-outform",
            "DER",
            "-out",
            "/dev/null",
        ),
    }

    @campaign(hostile_settings, env=ENVIRONMENTS, command=st.sampled_from(sorted(commands_by_name)))
    def one(env, command):
        tally.inputs += 1
        args = commands_by_name[command]
        judge(tally, openssl, openssl.attempt(*args, env=env), f"{command} with {env}")

    one()
    conclude(tally, openssl, observe)


# ----------------------------------------------------------------- key leaks


@pytest.mark.clause("HOSTILE-KEY-LEAK")
@pytest.mark.parametrize("kind", ["ec-P-256", "ec-P-384", "rsa-2048"])
def test_no_output_shows_a_private_key(openssl, workdir, keys, backend, observe, kind):
    """Every export and text path of an imported key (whose private numbers the suite knows),
    scanned for the private scalar, exponent and primes in any printed form."""
    key = keys.imported_ec(kind[3:]) if kind.startswith("ec") else keys.imported_rsa(2048)
    uri = key.uri(workdir)
    paths = {
        "pkey -text": ("pkey", PROV, "-in", uri, "-text", "-noout"),
        "pkey -text_pub": ("pkey", PROV, "-in", uri, "-text_pub", "-noout"),
        "pkey -pubout PEM": ("pkey", PROV, "-in", uri, "-pubout", "-out", "pub.pem"),
        "pkey -pubout DER": ("pkey", PROV, "-in", uri, "-pubout", "-outform", "DER", "-out", "pub.der"),
        "pkey private PEM": ("pkey", PROV, "-in", uri, "-out", "priv.pem"),
        "pkey private DER": ("pkey", PROV, "-in", uri, "-outform", "DER", "-out", "priv.der"),
        "pkey -aes256": ("pkey", PROV, "-in", uri, "-aes256", "-passout", "pass:hostile", "-out", "enc.pem"),
        "storeutl -text": ("storeutl", PROV, "-text", uri),
        "req -x509 -text": (
            "req",
            "-new",
            "-x509",
            PROV,
            "-key",
            uri,
            "-subj",
            "/CN=leak",
            "-days",
            "1",
            "-text",
            "-out",
            "cert.pem",
        ),
    }
    if backend.has_capability("masked-keys") and kind.startswith("ec"):
        (workdir / "in.der").write_bytes(oracle.private_der(key.private, "pkcs8"))
        for outform in ("PEM", "DER"):
            paths[f"genpkey -outform {outform}"] = (
                "genpkey",
                PROV,
                "-algorithm",
                "EC",
                "-pkeyopt",
                f"group:{kind[3:]}",
                "-pkeyopt",
                "azihsm.input_key:./in.der",
                "-pkeyopt",
                "azihsm.masked_key:./g.bin",
                "-outform",
                outform,
                "-out",
                f"genpkey.{outform}",
            )
    tally = Tally("key leaks")
    for name, args in paths.items():
        before = {p.name for p in workdir.iterdir()}
        result = openssl.attempt(*args)
        tally.inputs += 1
        judge(tally, openssl, result, name)
        written = b"".join(p.read_bytes() for p in workdir.iterdir() if p.name not in before and p.is_file())
        found = leaked(result.stdout + result.stderr.encode() + written, key.private)
        if found:
            tally.finding(f"{name} shows the {', '.join(found)}", result.command_line)
            openssl.keep(result)
    tally.notes["export paths scanned"] = len(paths)
    conclude(tally, openssl, observe)
