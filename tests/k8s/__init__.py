"""Tests that talk the Kubernetes API, against the in-process API-server emulator."""
