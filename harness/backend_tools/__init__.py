"""Small tools backend profiles call from their key recipes and provisioning steps
(``{python} -m azihsm_conformance.harness.backend_tools.NAME ...``): generic over a kind of backend, never
tied to one build."""
