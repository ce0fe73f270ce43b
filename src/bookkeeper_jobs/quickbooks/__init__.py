"""QuickBooks Online: the session (intuit-oauth tokens, python-quickbooks API, retries), our
transactions as QuickBooks objects, the exactly-once exporter, and import files (CSV, IIF)."""
