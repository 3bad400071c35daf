"""azihsm-conformance, installed under one name so that nothing collides.

The repository keeps its parts as top-level folders (``harness/``, ``reference/``,
``conformance/``, ``fixtures/``); they are this package's subpackages
(``azihsm_conformance.harness`` ...), never top-level packages of their own (``fixtures``,
for one, is also an established PyPI package). An installed wheel holds them inside this
package; in a checkout (on ``sys.path`` directly, as the provider's embedded interpreter and
the tests have it) this package's path also covers the folder it sits in.
"""

from __future__ import annotations

import os

_PARTS = ("harness", "reference", "conformance", "fixtures")
_checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if any(os.path.isfile(os.path.join(_checkout, part, "__init__.py")) for part in _PARTS):
    __path__.append(_checkout)  # noqa: F821 - a package's __path__ is set by the import system
