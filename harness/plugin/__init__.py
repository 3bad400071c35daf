"""The harness's pytest plugin for the conformance suite (contract: docs/suite-api.md).

Registered as the ``azihsm`` pytest11 entry point (and loaded with ``-p azihsm`` by
``azihsm-conformance run``). One module per job:

| module          | job                                                                   |
|-----------------|-----------------------------------------------------------------------|
| ``target``      | options; resolving the openssl, the backend and the provider once      |
| ``collection``  | one clause per case, levels, not-applicable cases, declared deviations  |
| ``fixtures``    | ``openssl`` (with proofs: isolated twins, refusals with controls),     |
|                 | ``workdir``, ``observe``, ``backend``, ``openssl_version``             |
| ``outcome``     | each case's verdict, read from pytest's report objects                  |
| ``recording``   | the results store (the controller is the only writer)                  |
| ``distributed`` | handing the resolved target to pytest-xdist workers                    |
"""

pytest_plugins = [
    "azihsm_conformance.harness.plugin.target",
    "azihsm_conformance.harness.plugin.collection",
    "azihsm_conformance.harness.plugin.fixtures",
    "azihsm_conformance.harness.plugin.outcome",
    "azihsm_conformance.harness.plugin.distributed",
]
