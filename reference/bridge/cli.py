"""``azihsm-conformance provider-path``: build the module if needed, print its directory.

    openssl dgst -sha256 -provider-path "$(azihsm-conformance provider-path)" \\
        -propquery "?provider=azihsm" -provider default -provider azihsm_provider data.bin
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "provider-path",
        help="print the directory holding the reference azihsm_provider.so (built on demand)",
        description=__doc__.split("\n\n", 1)[0],
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .build import BuildError, provider_dir

    try:
        print(provider_dir())
    except (BuildError, OSError) as exc:
        print(f"azihsm-conformance: error: {exc}", file=sys.stderr)
        return 1
    return 0
