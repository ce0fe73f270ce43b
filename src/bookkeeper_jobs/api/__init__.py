"""The HTTP API (FastAPI), its JobStore backends and the embedded workers."""
