"""The conformance suite's shape: every clause has cases, every case names one known clause,
quick level touches every clause, ids are readable, absent vectors are reported."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from suite_collection import collect_suite

from azihsm_conformance.harness.clauses import load_clauses

CLAUSES = load_clauses()


def test_every_case_names_exactly_one_known_clause(collected):
    problems = []
    for case in collected:
        marks = case["clauses"]
        if len(marks) != 1 or len(marks[0]) != 1:
            problems.append(f"{case['nodeid']}: {len(marks)} clause markers")
        elif marks[0][0] not in CLAUSES:
            problems.append(f"{case['nodeid']}: unknown clause {marks[0][0]}")
    assert not problems, "\n".join(problems)


def test_every_clause_has_a_case(collected):
    covered = Counter(case["clauses"][0][0] for case in collected if case["clauses"])
    missing = sorted(set(CLAUSES) - set(covered))
    assert not missing, f"clauses without any conformance case: {', '.join(missing)}"


def test_quick_level_has_a_case_for_every_clause(collected):
    """Mirrors the harness's rule: per clause the quick-marked cases, else the first non-slow one."""
    quick = defaultdict(int)
    runnable = set()
    for case in collected:
        clause = case["clauses"][0][0]
        if not case["slow"]:
            runnable.add(clause)
            quick[clause] += case["quick"]
    assert runnable == set(CLAUSES), f"clauses with only slow cases: {sorted(set(CLAUSES) - runnable)}"
    # a quick level that is most of the full level would not be quick
    assert sum(quick.values()) < len(collected) / 4, f"{sum(quick.values())} of {len(collected)} cases are marked quick"


def test_case_ids_are_built_from_domain_names(collected):
    """No pytest fallback ids (argname + index, e.g. 'curve0'), no 'None', no empty parts."""
    bad = []
    for case in collected:
        parts = case["id"].split("-") if case["id"] else []
        fallback = [p for p in parts for name in case["argnames"] if re.fullmatch(rf"{re.escape(name)}\d+", p)]
        if fallback or "None" in parts or (case["id"] and "" in parts and not case["id"].startswith("-")):
            bad.append(case["nodeid"])
    assert not bad, "unreadable case ids:\n" + "\n".join(bad[:20])


def test_case_ids_are_unique(collected):
    duplicates = [nodeid for nodeid, count in Counter(case["nodeid"] for case in collected).items() if count > 1]
    assert not duplicates, f"duplicate case ids: {duplicates[:10]}"


def test_every_spec_area_has_its_module(collected):
    modules = {case["nodeid"].split("::")[0].rsplit("/", 1)[-1] for case in collected}
    for module in (
        "test_keygen.py",
        "test_import.py",
        "test_ecdsa.py",
        "test_rsa_sign.py",
        "test_rsa_encrypt.py",
        "test_ecdh.py",
        "test_hkdf_hmac.py",
        "test_digest.py",
        "test_store.py",
        "test_usage.py",
        "test_blobs.py",
        "test_cert_encoders.py",
        "test_provider_flags.py",
    ):
        assert module in modules, f"conformance/{module} collected no case"


def test_absent_wycheproof_families_are_reported_not_dropped(tmp_path):
    empty = tmp_path / "no-vectors"
    empty.mkdir()
    collected = collect_suite(tmp_path, "--azihsm-wycheproof-root", str(empty))
    absent = [case for case in collected if case["id"].endswith("-absent")]
    families = {case["id"].removesuffix("-absent") for case in absent}
    assert {"ecdsa", "rsa_signature", "rsa_pss", "rsa_oaep", "rsa_pkcs1_decrypt", "ecdh", "ecdh_pem"} <= families
    for case in absent:  # inconclusive (counts against the verdict), saying where it looked
        assert case["inconclusive"] and str(empty) in case["inconclusive"][0], (
            f"{case['nodeid']} does not say where it looked"
        )
        assert "--azihsm-wycheproof-root" in case["inconclusive"][0]


def test_backend_deviations_name_catalogue_clauses():
    """A deviation is reported per clause: a profile naming an unknown clause reports nothing."""
    from azihsm_conformance.harness.backends import PROFILE_DIR, load_profile

    for path in sorted(PROFILE_DIR.glob("*.toml")):
        unknown = sorted(set(load_profile(path).deviations) - set(CLAUSES))
        assert not unknown, f"{path.name} lists deviations of unknown clauses: {', '.join(unknown)}"
