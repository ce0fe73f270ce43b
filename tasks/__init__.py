"""Task functions ``(spec, ledger, reporter) -> result``; they know nothing of Kubernetes or SQLite."""
