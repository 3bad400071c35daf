"""What conformance modules import from the harness: the PROV marker argument and the
verdict signals. Kept apart from the pytest plugin so a suite module imports a few names,
not the whole plugin (and so import order never matters)."""

from __future__ import annotations

import pytest


class _ProviderFlags:
    """The PROV marker argument: replaced by the backend's provider flags in place."""

    def __repr__(self) -> str:
        return "PROV"


PROV = _ProviderFlags()


class NotApplicable(pytest.skip.Exception):
    """The case needs something the backend profile does not declare (a capability, a key
    size, a spec revision): reported as *not applicable* with the reason, never as a pass."""

    def __init__(self, reason: str):
        super().__init__(msg=reason, allow_module_level=False)


class Inconclusive(pytest.fail.Exception):
    """The case could not reach the behaviour it checks (a prerequisite failed, a refusal came
    from OpenSSL's option parser, no command showed which provider did the work). It counts
    against the verdict and says why; it is never a pass."""

    def __init__(self, reason: str):
        super().__init__(msg=reason, pytrace=False)


def not_applicable(reason: str):
    raise NotApplicable(reason)


def inconclusive(reason: str):
    raise Inconclusive(reason)


# marker descriptions registered by the plugin (pytest runs with --strict-markers)
MARKERS = (
    "clause(id): the catalogue clause a conformance case checks (exactly one per case)",
    "quick: the representative case(s) of a clause run at --level quick",
    "slow: long-running cases (only at --level full)",
    "inconclusive(reason): a case the suite knows it cannot decide (e.g. its vectors are absent)",
    "hostile: a family of the hostile-input campaign (only at --azihsm-level hostile)",
)
