"""Drives real ``openssl`` binaries against provider backends and records the results."""

# A constant, read by pyproject.toml: importlib.metadata costs tens of milliseconds, which
# every `openssl` process loading the reference bridge would pay through its identity.
__version__ = "0.2.0"
