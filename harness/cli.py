"""The ``azihsm-conformance`` command line.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``; every module
is imported to build the parser (they import little at module level).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness import __version__
from harness.errors import UsageError

# subcommand name -> module implementing add_parser(subparsers) and run(args) -> int
SUBCOMMANDS: dict[str, str] = {
    "run": "harness.commands.run",
    "report": "harness.commands.report",
    "compare": "harness.commands.compare",
    "merge": "harness.commands.merge",
    "certify": "harness.commands.certify",
    "doctor": "harness.commands.doctor",
    "openssl": "harness.provision",
    "provider-path": "reference.bridge.cli",
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
