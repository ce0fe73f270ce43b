"""The contract suite's cluster backend: everything of cluster mode but the API server and
the kubelet is real. The emulated API server (``tests/k8s/emulator``) serves the project's
CRD; the real operator runs under kopf in a thread; the test kubelet runs each Job's pod
command (``bkjobs task run --job <ns>/<name>``) as a local process; the store under test is
``KubernetesJobStore`` with its watch cache."""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from bookkeeper_jobs.api.store.kubernetes import KubernetesJobStore
from bookkeeper_jobs.api.store.watch_cache import WatchCache
from bookkeeper_jobs.crd import render_crd_yaml
from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.operator.context import build_context, close_context
from bookkeeper_jobs.operator.run import run_operator
from bookkeeper_jobs.operator.ttl import sweep
from bookkeeper_jobs.settings import Settings
from tests.contract.scripted import SCRIPTED_TASKS
from tests.k8s.emulator import KubernetesEmulator
from tests.k8s.kubelet import Kubelet
from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "default"


@dataclass
class KubernetesBackend:
    settings: Settings
    tmp_path: Path
    emulator: KubernetesEmulator = field(init=False)
    store: KubernetesJobStore = field(init=False)
    kubelets: list[Kubelet] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.emulator = KubernetesEmulator(bookmark_interval=1.0)
        self.emulator.start()
        self.kubeconfig = self.tmp_path / "kubeconfig"
        self.emulator.write_kubeconfig(self.kubeconfig)
        # The CRD as generated from the job types registered now (the committed file when
        # only the built-in ones are: tests/unit/test_crd.py keeps the two equal).
        crd = self.tmp_path / "bookkeepingjobs.yaml"
        crd.write_text(render_crd_yaml())
        self.emulator.load_crd(crd)
        self._api_client = self.emulator.api_client()
        self.cache = WatchCache(
            client.CustomObjectsApi(self._api_client), NAMESPACE, retry_delay=0.1
        )
        self.cache.start()
        assert self.cache.wait_synced(10)
        self.store = KubernetesJobStore(client.CustomObjectsApi(self._api_client), self.cache)
        self._stop_operator = threading.Event()
        ready = threading.Event()
        self._operator = threading.Thread(
            target=run_operator,
            kwargs={
                "settings": self.settings,
                "stop_flag": self._stop_operator,
                "ready_flag": ready,
                "kubeconfig": self.kubeconfig,
                "health_host": None,
            },
            name="bkjobs-operator",
            daemon=True,
        )
        self._operator.start()
        assert ready.wait(20), "the operator did not start"

    def start_workers(self) -> None:
        """Workers of a cluster are its kubelets: they run the Jobs' pods."""
        if self.kubelets:
            return
        kubelet = Kubelet(
            self.emulator,
            env_overrides={
                "KUBECONFIG": str(self.kubeconfig),
                "PYTHONPATH": str(ROOT),
                "BKJOBS_TEST_SCRIPT_DIR": os.environ["BKJOBS_TEST_SCRIPT_DIR"],
            },
            env_force=task_environment(self.settings),
            backoff_base=self.settings.retry_backoff,  # the Job controller's pod backoff
            cwd=self.tmp_path,
        )
        kubelet.start()
        self.kubelets.append(kubelet)

    def crash_workers(self) -> None:
        """SIGKILL every running pod process, as an OOM kill or a lost node would."""
        for kubelet in self.kubelets:
            for run in kubelet.runs():
                if not run.finished.is_set() and run.pid is not None:
                    os.kill(run.pid, signal.SIGKILL)

    def stop_workers(self) -> None:
        for kubelet in self.kubelets:
            kubelet.stop()
        self.kubelets.clear()

    def close(self) -> None:
        self.stop_workers()
        self._stop_operator.set()
        self._operator.join(10)
        # kopf, stopped in a thread, leaves its aiohttp connections to the garbage
        # collector; collected later inside another test, their ResourceWarning would fail
        # that test (filterwarnings = error): collect them now.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        self.cache.stop()
        self._api_client.close()
        self.emulator.stop()

    def sweep(self, older_than: datetime) -> int:
        """The operator's TTL sweep (what deletes old resources in a cluster), with the TTL
        that puts its cutoff at ``older_than``; returns once the API's cache saw it."""
        before = len(self.cache.all())
        ttl = max(0.0, (utcnow() - older_than).total_seconds())
        settings = self.settings.model_copy(update={"job_ttl": ttl})
        context = build_context(settings, self.emulator.client_configuration())
        try:
            deleted = sweep(context)
        finally:
            close_context(context)
        wait_until(lambda: len(self.cache.all()) == before - deleted, what="the cache to see it")
        return deleted


def task_environment(settings: Settings) -> dict[str, str]:
    """What the chart gives a task pod (its values' ``extraEnv`` and the secrets key from
    its Secret), pointed at this test's files and servers."""
    env = {
        "BKJOBS_DATA_DIR": str(settings.data_dir),
        "BKJOBS_ENVIRONMENT": "test",
        "BKJOBS_TASKS": json.dumps(settings.tasks),
        "BKJOBS_JOB_TYPE_MODULES": json.dumps(settings.job_type_modules),
        "BKJOBS_QBO_DISCOVERY_URLS": json.dumps(settings.qbo_discovery_urls),
        "BKJOBS_QBO_API_URLS": json.dumps(settings.qbo_api_urls),
    }
    if settings.secrets_key is not None:
        env["BKJOBS_SECRETS_KEY"] = settings.secrets_key.get_secret_value()
    return env


def make_kubernetes_backend(tmp_path: Path, **overrides: Any) -> KubernetesBackend:
    options: dict[str, Any] = {
        "data_dir": tmp_path,
        "job_timeout": 20.0,
        "job_max_attempts": 3,
        "retry_backoff": 0.1,
        "environment": "test",
        "kubernetes_namespace": NAMESPACE,
        "tasks": SCRIPTED_TASKS,
        "task_template": {
            "image": "bookkeeper-jobs:test",
            "artifacts_claim": None,
            "database_secret": None,
        },
    }
    options.update(overrides)
    return KubernetesBackend(Settings(**options), tmp_path)
