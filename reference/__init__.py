"""The reference HSM: a pure-Python model of the Azure Integrated HSM and the
provider bridge that exposes it to the stock ``openssl`` CLI as ``azihsm_provider``."""
