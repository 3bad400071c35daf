"""Vector loaders: the KEY = value parser, Wycheproof flattening and sampling, absent families."""

from __future__ import annotations

import json

import pytest

from azihsm_conformance.fixtures import loaders


def test_key_value_blocks_records_sections_and_comments(tmp_path):
    text = "# header\n[L = 32]\n\nLen = 0\nMsg = 00\nMD = aa\n\nLen = 8\n# inside\nMsg = d3\n\nMD = bb\n[L = 48]\nLen = 16\nMsg = 11af\nMD = cc\n"
    path = tmp_path / "v.rsp"
    path.write_text(text)
    records = loaders.load_key_value_blocks(path)
    assert records == [
        {"L": "32", "Len": "0", "Msg": "00", "MD": "aa"},
        {"L": "32", "Len": "8", "Msg": "d3", "MD": "bb"},
        {"L": "48", "Len": "16", "Msg": "11af", "MD": "cc"},
    ]


def test_nist_vectors_honour_bit_length():
    vectors = loaders.nist_sha_vectors("sha256", "ShortMsg")
    assert vectors[0].message == b"" and vectors[0].id == "SHA256ShortMsg-0B"
    assert all(len(v.digest) == 32 for v in vectors)
    assert len(loaders.nist_sha_vectors("sha512", "LongMsg")) > 50


def test_rfc_vectors_include_empty_salt():
    cases = loaders.rfc5869_vectors()
    assert [c.source for c in cases] == ["rfc5869-case1", "rfc5869-case2", "rfc5869-case3"]
    assert cases[2].salt == b"" and cases[2].info == b""


def _write_wycheproof(path, results):
    data = {
        "testGroups": [
            {
                "curve": "secp256r1",
                "tests": [
                    {"tcId": i + 1, "comment": "c", "flags": ["F"], "result": r, "msg": "00"}
                    for i, r in enumerate(results)
                ],
            }
        ]
    }
    path.write_text(json.dumps(data))


def test_wycheproof_flattening_and_stable_sample(tmp_path):
    path = tmp_path / "ecdh_secp256r1_test.json"
    _write_wycheproof(path, ["valid"] * 10 + ["invalid"] * 10 + ["acceptable"])
    cases = loaders.load_wycheproof(path)
    assert len(cases) == 21 and cases[0].group == {"curve": "secp256r1"} and cases[0].hex("msg") == b"\x00"
    assert cases[0].id == "ecdh_secp256r1-tc1-valid"
    first = loaders.sample(cases, valid=3, invalid=4, seed=path.name)
    assert first == loaders.sample(cases, valid=3, invalid=4, seed=path.name)
    assert [c.result for c in first] == ["valid"] * 3 + ["invalid"] * 4
    assert len(loaders.sample(cases, valid=None, invalid=0, seed="x")) == 10


def test_absent_family_names_root_and_fix(tmp_path):
    with pytest.raises(loaders.VectorsAbsent, match="--azihsm-wycheproof-root") as error:
        loaders.wycheproof_files(tmp_path, "rsa_oaep")
    assert str(tmp_path) in str(error.value)
    (tmp_path / "broken_test.json").write_text("{not json")
    with pytest.raises(loaders.VectorsAbsent, match="cannot read"):
        loaders.load_wycheproof(tmp_path / "broken_test.json")


def test_family_patterns_do_not_overlap():
    root = loaders.DEFAULT_WYCHEPROOF_ROOT
    if not root.is_dir():
        pytest.skip(f"no Wycheproof vectors at {root}")
    seen: dict = {}
    for family in loaders.WYCHEPROOF_FAMILIES:
        for path in loaders.wycheproof_files(root, family):
            assert path.name not in seen, f"{path.name} is in {seen.get(path.name)} and {family}"
            seen[path.name] = family
