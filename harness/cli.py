"""The ``azihsm-conformance`` command line.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``; every module
is imported to build the parser (they import little at module level).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from azihsm_conformance.harness import __version__
from azihsm_conformance.harness.errors import UsageError

# subcommand name -> module implementing add_parser(subparsers) and run(args) -> int
SUBCOMMANDS: dict[str, str] = {
    "run": "azihsm_conformance.harness.commands.run",
    "report": "azihsm_conformance.harness.commands.report",
    "compare": "azihsm_conformance.harness.commands.compare",
    "merge": "azihsm_conformance.harness.commands.merge",
    "certify": "azihsm_conformance.harness.commands.certify",
    "doctor": "azihsm_conformance.harness.commands.doctor",
    "openssl": "azihsm_conformance.harness.provision",
    "provider-path": "azihsm_conformance.reference.bridge.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="azihsm-conformance",
        description="Conformance suite and reference HSM for the azihsm OpenSSL provider.",
    )
    parser.add_argument("--version", action="version", version=f"azihsm-conformance {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS.values():
        module = importlib.import_module(module_name)
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"azihsm-conformance: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("azihsm-conformance: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
