"""``azihsm-conformance provider-path``: build the module if needed, print its directory.

    openssl dgst -sha256 -provider-path "$(azihsm-conformance provider-path)" \\
        -propquery "?provider=azihsm" -provider default -provider azihsm_provider data.bin

The default module talks to a device server (started on first use, one per device
directory); ``--mode in-process`` builds the one that runs the reference inside openssl.
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
    parser.add_argument(
        "--mode",
        choices=("server", "in-process"),
        default="server",
        help="server: operations run in a device server (fast; the default); "
        "in-process: inside the openssl process (no server; for debuggers)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .build import BuildError, provider_dir

    try:
        print(provider_dir(args.mode))
    except (BuildError, OSError) as exc:
        print(f"azihsm-conformance: error: {exc}", file=sys.stderr)
        return 1
    return 0
