"""What the provider says about itself (``openssl list -providers -verbose``)."""

from __future__ import annotations

import sys

NAME = "azihsm"


def version() -> str:
    from azihsm_conformance.harness import __version__

    return __version__


def buildinfo() -> str:
    """Implementation, then the versions that decide its behaviour."""
    import _cffi_backend

    try:
        from cryptography import __version__ as pyca
    except ImportError:
        pyca = "missing"
    python = ".".join(map(str, sys.version_info[:3]))
    return (
        f"azihsm-conformance reference HSM {version()} "
        f"(Python {python}, cffi {_cffi_backend.__version__}, pyca/cryptography {pyca})"
    )


def provider_params() -> dict[str, object]:
    # A loaded instance always has its device session open, hence status 1.
    return {"name": NAME, "version": version, "buildinfo": buildinfo, "status": 1}
