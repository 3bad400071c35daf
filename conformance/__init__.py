"""The conformance suite (pytest): one module per spec area, every case names its clause."""
