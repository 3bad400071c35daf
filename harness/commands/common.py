"""Options several subcommands share, and the set-up they do with them."""

from __future__ import annotations

import argparse
from pathlib import Path

from azihsm_conformance.harness.backends import available_backends
from azihsm_conformance.harness.clauses import DEFAULT_PATH as CATALOGUE_PATH
from azihsm_conformance.harness.clauses import Clause, load_clauses

DEFAULT_OUT = Path("azihsm-results")
DEFAULT_DB_NAME = "results.sqlite"


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """Which provider build and which openssl: the same flags as the pytest plugin."""
    group = parser.add_argument_group("backend and OpenSSL")
    group.add_argument(
        "--backend",
        help=f"backend profile: {', '.join(available_backends())}, or a NAME.toml file (default: reference, or external with --provider-path)",
    )
    group.add_argument(
        "--provider-path", metavar="DIR", help="directory holding the provider .so (an external backend)"
    )
    group.add_argument("--provider-module", metavar="NAME", help="provider module name (default azihsm_provider)")
    group.add_argument("--openssl-conf", metavar="FILE", help="openssl.cnf (or template) that loads the provider")
    group.add_argument(
        "--openssl",
        metavar="SPEC",
        help="openssl binary, name on PATH, or version like 3.5 (default: $AZIHSM_OPENSSL, then PATH)",
    )


def add_clauses_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clauses", metavar="FILE", help="clause catalogue (default fixtures/clauses.toml)")


def load_catalogue(args: argparse.Namespace) -> dict[str, Clause]:
    """The clauses of the catalogue from --clauses, else the project's."""
    return load_clauses(args.clauses or CATALOGUE_PATH)


def results_path(args: argparse.Namespace, out: Path | None = None) -> Path:
    return Path(args.results) if args.results else (out or DEFAULT_OUT) / DEFAULT_DB_NAME
