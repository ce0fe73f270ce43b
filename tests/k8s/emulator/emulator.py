"""Runs an emulated Kubernetes API server on 127.0.0.1 in a background thread.

Tests need a real HTTP endpoint so that the official ``kubernetes`` client, kopf and
kubectl are exercised as they are in a cluster; no API server binary exists on our
machines (see the shared tooling notes), so this emulator follows the documented
semantics the project relies on. The server has its own event loop and thread so that
synchronous clients in the test thread and asyncio code in the test's loop can both
use it. Use it as a context manager or through the ``k8s_api`` fixture.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from kubernetes import client

from .resources import ResourceType
from .server import ApiServer
from .state import ChangeCallback
from .store import Store
from .watching import ABORT, CLOSE

JsonObject = dict[str, Any]


class KubernetesEmulator:
    """An API server for one test: ``url``, ``store`` and a Python-level API.

    The Python-level methods (:meth:`get`, :meth:`list`, :meth:`create`, :meth:`patch`,
    :meth:`patch_status`, :meth:`delete`, :meth:`subscribe`) act on the same store as
    HTTP requests, with the same admission rules, and raise :class:`ApiError` as HTTP
    would answer. ``resource`` is ``"batch/v1/jobs"``, ``"v1/pods"``,
    ``"example.test/v1/widgets"`` or a plural/short name such as ``"jobs"``.
    """

    def __init__(self, *, bookmark_interval: float = 1.0, history_limit: int = 1000) -> None:
        self.store = Store(history_limit)
        self.server = ApiServer(self.store, bookmark_interval)
        self.url = ""
        self.kubeconfig_path: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle ---------------------------------------------------------------------

    def start(self) -> KubernetesEmulator:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="k8s-emulator", daemon=True
        )
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout=10)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> KubernetesEmulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # Clients -----------------------------------------------------------------------

    def client_configuration(self) -> client.Configuration:
        """A ``kubernetes`` client configuration for this server (plain HTTP, no auth)."""
        configuration = client.Configuration()
        configuration.host = self.url
        return configuration

    def api_client(self) -> client.ApiClient:
        """A new ``ApiClient``; the caller closes it (``with`` or ``.close()``)."""
        return client.ApiClient(self.client_configuration())

    def write_kubeconfig(self, path: str | Path) -> Path:
        """A kubeconfig (context ``emulator``) for kubectl, kopf or ``config.load_kube_config``."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": "emulator", "namespace": "default"},
                }
            ],
            "current-context": "emulator",
        }
        self.kubeconfig_path = Path(path)
        self.kubeconfig_path.write_text(yaml.safe_dump(config))
        return self.kubeconfig_path

    # Test controls -----------------------------------------------------------------

    def load_crd(self, path: str | Path) -> list[ResourceType]:
        """Create the CRDs in a YAML file, as ``kubectl apply -f`` would."""
        return self.store.load_crd(path)

    def compact(self) -> int:
        """Forget the change history: watches from an older resourceVersion get 410."""
        return self.store.compact()

    def disconnect_watches(self, abort: bool = False) -> int:
        """End every open watch: cleanly (as a server timeout does) or, with ``abort``, by
        cutting the TCP connection (as a load balancer does). Returns how many."""
        return self.server.end_watches(ABORT if abort else CLOSE)

    @property
    def watch_count(self) -> int:
        """How many watch streams are open (to wait until a controller is watching)."""
        return len(self.server.streams)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """The last 1000 requests as ``(method, path?query)``, oldest first."""
        return list(self.server.requests)

    # Python-level API --------------------------------------------------------------

    def get(self, resource: str, namespace: str | None, name: str) -> JsonObject:
        return self.store.get(resource, namespace, name)

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[JsonObject]:
        return self.store.list(resource, namespace, label_selector, field_selector)

    def create(self, resource: str, namespace: str | None, body: JsonObject) -> JsonObject:
        return self.store.create(resource, namespace, body)

    def patch(
        self, resource: str, namespace: str | None, name: str, patch: Any, patch_type: str = "merge"
    ) -> JsonObject:
        return self.store.patch(resource, namespace, name, patch, patch_type)

    def patch_status(
        self, resource: str, namespace: str | None, name: str, status: JsonObject
    ) -> JsonObject:
        return self.store.patch_status(resource, namespace, name, status)

    def delete(
        self, resource: str, namespace: str | None, name: str, propagation_policy: str | None = None
    ) -> JsonObject:
        return self.store.delete(resource, namespace, name, propagation_policy)[0]

    def subscribe(
        self, callback: ChangeCallback, resource: str | None = None
    ) -> Callable[[], None]:
        return self.store.subscribe(callback, resource)
