"""Reports over the results store: exports (JSON, JUnit XML), Markdown and HTML pages,
and the difference between two runs. Everything here reads the store; nothing writes it."""
