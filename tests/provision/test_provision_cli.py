"""`azihsm-conformance openssl ...`: output, exit codes, one-line errors."""

from __future__ import annotations

import pytest
from provision_fakes import make_source_tree, make_tarball

from azihsm_conformance.harness.cli import main


def test_provision_prints_the_binary_then_list_and_remove(cache, source_tree, capsys):
    assert main(["openssl", "provision", "--source", str(source_tree), "--jobs", "1"]) == 0
    binary = cache / "openssl" / "3.5.7" / "bin" / "openssl"
    assert capsys.readouterr().out == f"{binary}\n"

    assert main(["openssl", "provision", "3.5"]) == 0  # cached: no source needed
    assert capsys.readouterr().out == f"{binary}\n"

    assert main(["openssl", "list"]) == 0
    listing = capsys.readouterr().out
    assert f"3.5.7      {source_tree}" in listing
    assert "3.6        not built (pin: Debian" in listing
    assert "3.5        not built" not in listing

    assert main(["openssl", "remove", "3.5.7"]) == 0
    assert not binary.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["openssl", "provision", "3.x"], "'3.x' is not an OpenSSL version"),
        (["openssl", "provision"], "name a version (e.g. 3.5) or pass --source"),
        (["openssl", "provision", "3.5", "--jobs", "0"], "--jobs must be 1 or more"),
        (["openssl", "provision", "--source", "x.tar.gz", "--sha256", "abc"], "--sha256 takes 64 hex digits"),
        (["openssl", "remove", "3.5"], "remove takes an exact version"),
        (["openssl", "remove", "3.5.7"], "is not in"),
    ],
    ids=["bad-version", "nothing-to-build", "zero-jobs", "short-sha256", "remove-series", "remove-missing"],
)
def test_bad_input_is_one_line_and_exit_2(cache, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("azihsm-conformance: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_available_lists_index_versions_and_marks_pins(cache, tmp_path, fake_archive, capsys):
    tarball = make_tarball(make_source_tree(tmp_path / "up", "3.5.7"), tmp_path)
    for debian_version in ("4.0.3-1", "3.5.7-1~deb13u2", "3.5.9-1~deb13u1"):
        fake_archive.add_upload(debian_version, tarball)
    assert main(["openssl", "available"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["3.5.7", "3.5.9", "4.0.3"]
    assert lines[0].endswith("(pinned)") and not lines[1].endswith("(pinned)")
