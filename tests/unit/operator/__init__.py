"""Tests of the operator package."""
