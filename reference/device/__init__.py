"""The reference HSM: a pure-Python model of the Azure Integrated HSM.

The public names are listed in docs/device-api.md; everything else in this package is private.
Importing it is cheap: pyca/cryptography is imported inside the functions that need it, and
digests use Python's built-in ``_sha*`` modules, never ``hashlib`` (see digest.py).
"""

from . import digest
from .device import Device
from .errors import (
    BlobError,
    DeviceError,
    HsmError,
    KeyImportError,
    KeyUsageError,
    OperationError,
    ParameterError,
    Reason,
    SessionError,
)
from .keys import Key
from .session import Session
from .signing import SignScheme

__all__ = [
    "Device",
    "Session",
    "Key",
    "SignScheme",
    "digest",
    "HsmError",
    "Reason",
    "DeviceError",
    "SessionError",
    "KeyImportError",
    "BlobError",
    "KeyUsageError",
    "ParameterError",
    "OperationError",
]
