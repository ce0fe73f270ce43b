"""Shared test configuration (importing it needs no database, cluster or network)."""

pytest_plugins = ["tests.postgres"]
