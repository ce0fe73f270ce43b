"""Task functions ``(spec, ledger, reporter) -> result``.

They know nothing of Kubernetes or SQLite: the backend hands them a ledger and a reporter.
"""
