"""A test-only Kubernetes API-server emulator (never shipped with the product).

Start one with ``KubernetesEmulator()`` as a context manager, or use the ``k8s_api``
fixture of ``tests/k8s/conftest.py``. What it emulates, and what it leaves out, is
listed in ``tests/k8s/emulator/README.md``.
"""

from __future__ import annotations

from .emulator import KubernetesEmulator
from .errors import ApiError
from .resources import ResourceType
from .state import Change
from .store import Store

__all__ = ["ApiError", "Change", "KubernetesEmulator", "ResourceType", "Store"]
