"""Drives real ``openssl`` binaries against provider backends and records the results."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("azihsm-conformance")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
