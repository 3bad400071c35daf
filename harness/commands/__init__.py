"""One module per ``azihsm-conformance`` subcommand (see harness/cli.py)."""
