"""Backend profiles and the clause catalogue loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from azihsm_conformance.harness.backends import DEVICE_DIR_VAR, available_backends, load_profile, resolve_backend
from azihsm_conformance.harness.clauses import DEFAULT_PATH, load_clauses
from azihsm_conformance.harness.errors import UsageError


def test_builtin_reference_profile():
    assert {"reference", "external"} <= set(available_backends())
    profile = resolve_backend(None)
    assert profile.name == "reference" and profile.fresh_device_dir
    assert profile.provider_module == "azihsm_provider"
    assert profile.provider_path_from == "azihsm_conformance.reference.bridge.build:provider_dir"
    assert profile.deviations == {} and profile.has_capability("tls")


def test_provider_path_defines_an_external_backend(tmp_path):
    (tmp_path / "azihsm_provider.so").write_bytes(b"")
    profile = resolve_backend(None, provider_path=str(tmp_path))
    assert profile.name == "external" and not profile.fresh_device_dir
    assert profile.check() == tmp_path
    # the spec's documented order: -provider-path first, -propquery before the -provider flags
    assert profile.provider_flags() == [
        "-provider-path",
        str(tmp_path),
        "-propquery",
        "?provider=azihsm",
        "-provider",
        "default",
        "-provider",
        "azihsm_provider",
    ]
    assert profile.prepare(tmp_path / "ws") == {}  # external device state is left alone


def test_provider_path_points_a_named_profile_elsewhere(tmp_path, profile_file):
    (tmp_path / "other.so").write_bytes(b"")
    profile = resolve_backend(str(profile_file), provider_path=str(tmp_path), provider_module="other")
    assert profile.name == "default-provider" and profile.provider_module == "other"
    assert "DGST-UNKNOWN-NAME" in profile.deviations  # the deviations stay with the profile


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"name": "no-such-backend"}, "unknown backend 'no-such-backend'; choose one of"),
        ({"name": "external"}, "needs --provider-path DIR"),
        ({"provider_path": "/no/such/dir"}, "provider directory /no/such/dir does not exist; pass --provider-path"),
        ({"openssl_conf": "/no/such/openssl.cnf"}, "does not exist; fix --openssl-conf"),
    ],
    ids=["unknown-backend", "external-without-path", "missing-provider-dir", "missing-openssl-conf"],
)
def test_bad_backend_selection(kwargs, problem):
    name = kwargs.pop("name", None)
    with pytest.raises(UsageError, match=problem):
        resolve_backend(name, **kwargs).check()


def test_directory_without_the_module(tmp_path):
    with pytest.raises(UsageError, match="has no azihsm_provider.so; pass --provider-module"):
        resolve_backend(None, provider_path=str(tmp_path)).check()


def test_openssl_conf_template_is_rendered_per_workspace(tmp_path):
    (tmp_path / "azihsm_provider.so").write_bytes(b"")
    template = tmp_path / "azihsm.cnf.in"
    template.write_text("[azihsm]\nmodule = ${PROVIDER_DIR}/${MODULE}.so\nazihsm-device-dir = ${DEVICE_DIR}\n")
    profile_path = tmp_path / "conf-backend.toml"
    profile_path.write_text(
        'name = "conf-backend"\nfresh_device_dir = true\n[provider]\npath = "."\nopenssl_conf = "azihsm.cnf.in"\n'
        '[environment]\nEXTRA = "1"\n'
    )
    profile = resolve_backend(str(profile_path))
    assert profile.provider_flags() == ["-propquery", "?provider=azihsm"]  # loaded by the config
    env = profile.prepare(tmp_path / "worker-1")
    device = tmp_path / "worker-1" / "device"
    assert env == {
        "EXTRA": "1",
        DEVICE_DIR_VAR: str(device),
        "OPENSSL_CONF": str(tmp_path / "worker-1" / "openssl.cnf"),
    }
    assert device.is_dir()
    assert (
        Path(env["OPENSSL_CONF"]).read_text()
        == f"[azihsm]\nmodule = {tmp_path}/azihsm_provider.so\nazihsm-device-dir = {device}\n"
    )


@pytest.mark.parametrize(
    "text, problem",
    [
        ('name = "x"\ncolour = "red"\n', "unknown key\\(s\\) colour"),
        ('[[deviation]]\nclause = "A-B"\n', "needs a clause and a reason"),
        ("name = [", "is not valid TOML"),
        ('[provider]\npath = "a"\npath_from = "b:c"\n', "not both"),
        ('[provider]\npath_from = "b:c"\ndevice = "remote"\n', "device must be one of server, in-process"),
        ('[provider]\npath = "a"\ndevice = "server"\n', "with provider.path_from"),
    ],
    ids=[
        "unknown-key",
        "deviation-without-reason",
        "bad-toml",
        "path-and-path-from",
        "bad-device",
        "device-without-path-from",
    ],
)
def test_bad_profiles(tmp_path, text, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=problem):
        load_profile(path)


def test_clause_catalogue(catalogue_file):
    clauses = load_clauses(catalogue_file)
    assert list(clauses)[:2] == ["DGST-SHA256", "DGST-SHA384"]
    must = clauses["DGST-SHA256"]
    assert must.required and must.section == "Digest" and must.applies_to((3, 0, 19))
    assert not clauses["TLS-HANDSHAKE"].required
    old = clauses["DGST-OLD-OPENSSL"]
    assert not old.applies_to((3, 0, 0)) and old.applies_to((1, 1, 1))


@pytest.mark.parametrize(
    "spec, version, applies",
    [
        (">=3.2", (3, 1, 9), False),
        (">=3.2", (3, 2, 0), True),
        (">=3.0,<3.5", (3, 5, 0), False),
        ("==3.0.*", (3, 0, 17), True),
    ],
    ids=["below-min", "at-min", "at-exclusive-max", "minor-equality"],
)
def test_clause_version_ranges(tmp_path, spec, version, applies):
    path = tmp_path / "c.toml"
    path.write_text(f'[[clause]]\nid = "A-B"\nsection = "s"\nlevel = "MUST"\ntext = "t"\nopenssl = "{spec}"\n')
    assert load_clauses(path)["A-B"].applies_to(version) is applies


@pytest.mark.parametrize(
    "entry, problem",
    [
        ('id = "lower-case"\nsection = "s"\nlevel = "MUST"\ntext = "t"', "must be upper-case"),
        ('id = "A-B"\nsection = "s"\nlevel = "MAY"\ntext = "t"', "level 'MAY' must be one of"),
        ('id = "A-B"\nlevel = "MUST"\ntext = "t"', "lacks section"),
        ('id = "A-B"\nsection = "s"\nlevel = "MUST"\ntext = "t"\nopenssl = "about 3"', "not like '>=3.0'"),
    ],
    ids=["bad-id", "bad-level", "missing-section", "bad-range"],
)
def test_bad_catalogue_entries(tmp_path, entry, problem):
    path = tmp_path / "c.toml"
    path.write_text(f"[[clause]]\n{entry}\n")
    with pytest.raises(UsageError, match=problem):
        load_clauses(path)


def test_duplicate_clause_ids(tmp_path):
    entry = '[[clause]]\nid = "A-B"\nsection = "s"\nlevel = "MUST"\ntext = "t"\n'
    path = tmp_path / "c.toml"
    path.write_text(entry * 2)
    with pytest.raises(UsageError, match="appears twice"):
        load_clauses(path)


@pytest.mark.skipif(not DEFAULT_PATH.is_file(), reason="the project has no clause catalogue yet")
def test_project_catalogue_loads():
    clauses = load_clauses()
    assert clauses and all(clause.text for clause in clauses.values())


@pytest.mark.skipif(not DEFAULT_PATH.is_file(), reason="the project has no clause catalogue yet")
@pytest.mark.parametrize("name", available_backends())
def test_builtin_profile_deviations_name_catalogue_clauses(name):
    profile = resolve_backend(name, provider_path="/unused") if name == "external" else resolve_backend(name)
    unknown = set(profile.deviations) - set(load_clauses())
    assert not unknown, f"{name}.toml lists deviations of clauses missing from the catalogue"


def test_upstream_mock_profile_is_the_2026_08_provisioned_configuration(tmp_path):
    """Loaded from an openssl.cnf naming every device file by absolute path, from OpenSSL's
    MODULESDIR or a given directory, its device provisioned per workspace."""
    profile = resolve_backend("azihsm-sdk-mock")
    assert profile.revision == "2026-08" and profile.fresh_device_dir and len(profile.deviations) == 12
    assert profile.provider_flags() == ["-propquery", "?provider=azihsm"]  # loaded by the config
    assert {"AZIHSM_CREDENTIALS_ID", "AZIHSM_CREDENTIALS_PIN"} <= set(profile.environment)
    env = profile.prepare(tmp_path / "w")
    conf = Path(env["OPENSSL_CONF"]).read_text()
    device = tmp_path / "w" / "device"
    assert "module = azihsm_provider\n" in conf  # no directory: OpenSSL's MODULESDIR
    assert f"azihsm-obk-path = {device}/obk.bin" in conf and "azihsm-api-revision = 1.0" in conf
    assert len((device / "obk.bin").read_bytes()) == 48
    assert (device / "pota_private_key.der").is_file() and (device / "pota_public_key.der").is_file()
    (tmp_path / "azihsm_provider.so").write_bytes(b"")
    moved = resolve_backend("azihsm-sdk-mock", provider_path=str(tmp_path))
    env = moved.prepare(tmp_path / "w2")
    assert f"module = {tmp_path}/azihsm_provider.so" in Path(env["OPENSSL_CONF"]).read_text()


def test_a_profile_extends_another(tmp_path):
    (tmp_path / "base.toml").write_text(
        'name = "base"\nrevision = "2026-08"\ncapabilities = ["a", "b"]\n'
        '[refusal_reasons]\nusage = "u"\nparameter = "p"\n[[deviation]]\nclause = "X-Y"\nreason = "r"\n'
    )
    (tmp_path / "child.toml").write_text(
        'extends = "base"\nname = "child"\ncapabilities = ["a"]\n[refusal_reasons]\nparameter = "q"\n'
    )
    child = load_profile(tmp_path / "child.toml")
    assert (child.name, child.revision, child.capabilities) == ("child", "2026-08", frozenset({"a"}))
    assert child.refusal_reasons == {"usage": "u", "parameter": "q"}  # tables merge key by key
    assert set(child.deviations) == {"X-Y"}
    (tmp_path / "loop.toml").write_text('extends = "loop"\n')
    with pytest.raises(UsageError, match="makes a cycle"):
        load_profile(tmp_path / "loop.toml")
    (tmp_path / "orphan.toml").write_text('extends = "nowhere"\n')
    with pytest.raises(UsageError, match="there is no"):
        load_profile(tmp_path / "orphan.toml")


@pytest.mark.parametrize("name, mode", [("reference", "server"), ("reference-in-process", "in-process")])
def test_the_device_key_picks_the_reference_module(name, mode):
    """provider.device reaches the path_from function as mode=: the two reference profiles
    build two different modules."""
    from azihsm_conformance.reference.bridge import build

    profile = resolve_backend(name)
    assert profile.provider_device == mode
    assert profile.provider_directory() == build.provider_dir(mode)
