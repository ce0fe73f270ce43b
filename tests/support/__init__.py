"""Test support shared by every suite: polling, uploads, SSE, harnesses."""
