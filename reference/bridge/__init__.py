"""The provider bridge: the stock ``openssl`` loads the reference HSM as ``azihsm_provider``.

``provider.c`` is the thin C layer (tables, guards, interpreter start-up); every operation
body is Python, one module per operation kind (``digest``, ``keymgmt``, ``store``,
``signature``, ``encoder``), reached through ``externs`` (the cffi entry points),
``runtime`` (provider instances and the handle table), ``params`` (OSSL_PARAM <-> Python)
and ``errors`` (exceptions -> OpenSSL errors). ``build.provider_dir()`` builds the module.

Nothing here is imported eagerly: every ``openssl`` process pays for what it imports.
"""
