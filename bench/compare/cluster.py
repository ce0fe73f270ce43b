"""Cluster mode's API for the side-by-side run: ``bkjobs serve`` with
``BKJOBS_JOB_STORE=kubernetes`` over the project's Kubernetes emulator (``tests/k8s``, an API
server in this process), its watch cache warm with the same finished jobs as the other sides.

No operator runs: reads and listings are the API's own (answered from the watch cache), and a
submission is the API creating its BookkeepingJob on the (emulated) API server, which is what
the API's figure is made of in a cluster.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bookkeeper_jobs.jobs import CategorizeSpec, new_job_id, utcnow
from bookkeeper_jobs.lifecycle import Complete, Start, initial_status, transition
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION, resource_status, spec_to_resource
from compare.seeding import Workload
from compare.servers import Server, free_port, product_env, running

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "default"
RESOURCE = f"{GROUP}/{VERSION}/{PLURAL}"


def finished(company_id: str, tenant_id: str) -> dict[str, object]:
    """A finished categorize job's status, as the operator and its task leave it."""
    del tenant_id
    now = utcnow()
    status = transition(initial_status(now), Start(), now)
    result = {"company_id": company_id, "requested": 0, "processed": 0, "categorized": 0}
    status = transition(status, Complete(attempt=1, result=result), now)
    data: dict[str, object] = resource_status(status, observed_generation=1).model_dump(
        mode="json", by_alias=True
    )
    return data


@contextmanager
def cluster_api(
    scratch: Path,
    workload: Workload,
    tenant_id: str,
    api_key: str,
    companies: list[str],
    *,
    access_log: bool,
    startup_seconds: float = 120,
    timings: dict[str, float] | None = None,
) -> Iterator[tuple[Server, list[tuple[str, str]]]]:
    """The API in cluster mode and the jobs seeded on its (emulated) server: (id, ETag), the
    ETag as the API answers it (the id and the resourceVersion).

    ``startup_seconds`` bounds the wait for the API's ``/readyz`` (its watch cache's first
    list of every job, in pages); ``timings`` gets the seconds the seeding and that wait
    took (``seeding``, ``ready``)."""
    timings = {} if timings is None else timings
    sys.path.insert(0, str(ROOT))
    from tests.k8s.emulator import KubernetesEmulator

    folder = scratch / "cluster"
    folder.mkdir(exist_ok=True)
    with KubernetesEmulator(bookmark_interval=30.0) as emulator:
        kubeconfig = emulator.write_kubeconfig(folder / "kubeconfig")
        emulator.load_crd(ROOT / "crds" / "bookkeepingjobs.yaml")
        ids = []
        began = time.monotonic()
        for index in range(workload.jobs):
            company = workload.company(index)
            spec = CategorizeSpec(company_id=company, tenant_id=tenant_id)
            job_id = new_job_id()
            emulator.create(
                RESOURCE, NAMESPACE, spec_to_resource(spec, job_id=job_id, namespace=NAMESPACE)
            )
            done = emulator.patch_status(RESOURCE, NAMESPACE, job_id, finished(company, tenant_id))
            ids.append((job_id, f'"{job_id}.{done["metadata"]["resourceVersion"]}"'))
        timings["seeding"] = time.monotonic() - began
        print(
            f"cluster mode: {workload.jobs:,} jobs seeded on the emulator in"
            f" {timings['seeding']:.0f} s",
            flush=True,
        )
        env = {
            **product_env(folder / "data", api_key, companies, access_log),
            "BKJOBS_JOB_STORE": "kubernetes",
            "BKJOBS_KUBERNETES_NAMESPACE": NAMESPACE,
            "KUBECONFIG": str(kubeconfig),
        }
        port = free_port()
        began = time.monotonic()
        serve = [str(Path(sys.executable).with_name("bkjobs")), "serve", "--host", "127.0.0.1"]
        with running(
            "cluster",
            [*serve, "--port", str(port)],
            env,
            folder / "cluster.log",
            port,
            "/readyz",
            startup_seconds=startup_seconds,
        ) as server:
            timings["ready"] = time.monotonic() - began
            print(
                f"cluster mode: the API answered /readyz {timings['ready']:.0f} s after it"
                " started (its watch cache's first list)",
                flush=True,
            )
            yield server, ids
