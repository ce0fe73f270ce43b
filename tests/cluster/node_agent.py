"""A node agent for the real API server: the test kubelet as a Node (issue 12, phase 2).

No kubelet or container runtime can run on the project's machines, so :class:`NodeAgent`
plays the kubelet of one Node. It speaks to the API server as the node itself
(``system:node:<name>`` in ``system:nodes``, a token of the control plane's static token
file), so the Node authorizer and the ``NodeRestriction`` admission plugin limit it exactly
as they limit a kubelet: it can read only the Pods bound to it and the Secrets, ConfigMaps,
PVCs and ServiceAccounts those Pods name, request tokens only for those Pods, and write
only its own Node, Lease and Pods' status. The real kube-scheduler binds Pods to it; the
real Job, ReplicaSet, Deployment, garbage-collector and TTL controllers do the rest.

What it does, as https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/ describes
a kubelet:

* registers its ``Node`` (``Ready``, capacity, addresses, ``nodeInfo``) and renews its
  ``Lease`` in ``kube-node-lease`` every 10 s;
* lists and watches the Pods with ``spec.nodeName=<name>`` (the field selector the Node
  authorizer insists on), resuming by resourceVersion and re-listing on 410 Gone;
* runs each Pod's first container's ``command`` + ``args`` as a local process
  (:class:`tests.k8s.kubelet_process.PodRun`: its own process group, stdout and stderr as
  the log, ``SIGTERM`` then ``SIGKILL``, exit code ``128 + N`` for a signal), with the
  container's env resolved as the kubelet does (``value``, ``$(VAR)``, ``valueFrom``
  ``secretKeyRef``/``configMapKeyRef``/``fieldRef``, ``envFrom``), read with the node's own
  credentials;
* mounts volumes by *path translation*: each volume becomes a host directory (``emptyDir``
  a per-pod directory; ``secret``/``configMap``/``projected`` files written there; a
  ``persistentVolumeClaim`` the ``hostPath`` of its bound PV; ``hostPath`` itself), and any
  env value or argument that starts with a ``mountPath`` has that prefix replaced by the
  host directory (``BKJOBS_DATA_DIR=/data`` becomes the PV's directory);
* the ServiceAccount token: where the ServiceAccount admission plugin mounted the
  ``kube-api-access-*`` projected volume, it requests a token bound to the Pod with the
  TokenRequest API (as the node; ``NodeRestriction`` checks the binding), writes ``token``,
  ``ca.crt`` (from the ``kube-root-ca.crt`` ConfigMap) and ``namespace``, and sets
  ``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT`` to the API server's real address
  (the ``kubernetes`` Service's ClusterIP is unreachable without kube-proxy) and
  ``TEST_NODE_SERVICEACCOUNT_DIR`` to the directory (``in_pod.py`` points the
  ``kubernetes`` client's fixed token path there);
* ports by *port translation*: all pods share the host's network, so each ``containerPort``
  gets a free host port, and an env value or argument equal to the port number is replaced
  by it (``--port 8000``); :meth:`NodeAgent.port` tells tests where a pod listens;
* reports Pod status as a kubelet does (strategic merge patches of ``pods/status``): phase
  ``Pending`` → ``Running`` → ``Succeeded``/``Failed``, the ``PodReadyToStartContainers``,
  ``Initialized``, ``ContainersReady`` and ``Ready`` conditions, ``containerStatuses`` with
  ``waiting`` (``ContainerCreating``, ``CreateContainerConfigError``, ``CrashLoopBackOff``),
  ``running`` and ``terminated`` (exit code, reason ``Completed``/``Error``), ``lastState``
  and ``restartCount``; ``restartPolicy`` ``Always``/``OnFailure`` restart the container
  after a back-off (10 s doubling to 300 s in a kubelet; ``restart_backoff`` here);
  ``readinessProbe.httpGet`` is probed every ``periodSeconds`` after
  ``initialDelaySeconds``; a container without one is ready once started;
* deletion: a Pod given a ``deletionTimestamp`` gets ``SIGTERM``, then ``SIGKILL`` after
  its ``deletionGracePeriodSeconds`` (capped at ``max_grace_period``), is reported terminal
  (``Failed`` unless the container exited 0) and is then deleted with grace period 0 and a
  uid precondition, which is how a kubelet finishes a graceful deletion.

Not done: init and sidecar containers (only the first container runs), liveness and
startup probes, resource limits, images (``command`` is required; ``bkjobs`` is the venv's),
``securityContext`` (everything runs as the test's user).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import urllib3

from tests.cluster.control_plane import ROOT, ControlPlane
from tests.k8s.kubelet_process import (
    ContainerConfigError,
    PodRun,
    container_env,
    resolve_argv,
)
from tests.support.polling import wait_until

JsonObject = dict[str, Any]
IN_POD = ROOT / "tests" / "cluster" / "in_pod.py"
SERVICEACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
LEASE_SECONDS = 40
LEASE_RENEW = 10.0
WATCH_SECONDS = 60
MAX_RESTART_BACKOFF = 300.0
logger = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body


class NodeApi:
    """A JSON client of the API server with one bearer token (the node's)."""

    def __init__(self, url: str, token: str, ca: Path) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._pool = urllib3.PoolManager(
            ca_certs=str(ca), cert_reqs="CERT_REQUIRED", maxsize=8, block=False
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        answer = self._pool.request(
            method, url, body=data, headers=headers, timeout=timeout, retries=False
        )
        try:
            parsed = json.loads(answer.data) if answer.data else None
        except ValueError:
            parsed = answer.data.decode(errors="replace")
        if answer.status >= 400:
            raise ApiError(answer.status, parsed)
        return parsed

    def watch(self, path: str, params: Mapping[str, str]) -> Iterator[JsonObject]:
        """The events of one watch request (it ends after ``timeoutSeconds``)."""
        url = f"{self.url}{path}?" + urllib.parse.urlencode({**params, "watch": "1"})
        answer = self._pool.request(
            "GET",
            url,
            headers=self._headers,
            preload_content=False,
            retries=False,
            timeout=urllib3.Timeout(connect=10, read=WATCH_SECONDS + 30),
        )
        try:
            if answer.status >= 400:
                raise ApiError(answer.status, answer.read().decode(errors="replace"))
            buffer = b""
            for chunk in answer.stream(65536, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            answer.release_conn()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _micro_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{name}"


def translate(value: str, mounts: Mapping[str, Path], ports: Mapping[int, int]) -> str:
    """A container's word (an env value, an argument) as this host sees it: a declared port
    becomes the free port it was given, a path under a mount the mount's directory. A path
    into this checkout is the pods' image and stays: a mount (the pod's ``/tmp`` emptyDir)
    never shadows the image's files, wherever the checkout lies (CI clones under ``/tmp``)."""
    if value in {str(port) for port in ports}:
        return str(ports[int(value)])
    if _within(value, str(ROOT)):
        return value
    for mount in sorted(mounts, key=len, reverse=True):
        if _within(value, mount):
            return str(mounts[mount]) + value[len(mount.rstrip("/")) :]
    return value


def _within(value: str, directory: str) -> bool:
    return value == directory or value.startswith(directory.rstrip("/") + "/")


class PodWorker:
    """One Pod on this node: its container (restarted per ``restartPolicy``), its status,
    its deletion. Runs on its own thread; :meth:`update` feeds it the watched Pod."""

    def __init__(self, agent: NodeAgent, pod: JsonObject) -> None:
        self.agent = agent
        self.pod = pod
        metadata = pod["metadata"]
        self.namespace, self.name, self.uid = (
            metadata["namespace"],
            metadata["name"],
            metadata["uid"],
        )
        spec = pod["spec"]
        self.container: JsonObject = (spec.get("containers") or [{}])[0]
        self.restart_policy = spec.get("restartPolicy", "Always")
        self.directory = agent.workdir / "pods" / self.uid
        self.runs: list[PodRun] = []
        self.ports: dict[int, int] = {}
        self.mounts: dict[str, Path] = {}  # mountPath → host directory
        self.restart_count = 0
        self.state: JsonObject = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: JsonObject = {}
        self.phase = "Pending"
        self.ready = False
        self.started_at: str | None = None
        self.start_time = _now()
        self.terminal = threading.Event()
        self.removed = threading.Event()  # the Pod is gone from the API server
        self._deleting = threading.Event()
        self._grace: float = agent.max_grace_period
        self._status_lock = threading.Lock()
        self._published: str = ""
        self._thread = threading.Thread(
            target=self._main, name=f"node-pod-{self.name}", daemon=True
        )
        self._probe_thread: threading.Thread | None = None

    # Control -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def update(self, pod: JsonObject) -> None:
        self.pod = pod
        metadata = pod["metadata"]
        if metadata.get("deletionTimestamp") and not self._deleting.is_set():
            declared = metadata.get("deletionGracePeriodSeconds")
            grace = float(declared) if declared is not None else self.agent.max_grace_period
            self._grace = min(grace, self.agent.max_grace_period)
            self._deleting.set()
            for run in self.runs:
                run.grace_period = self._grace
                run.stop("the pod is being deleted")
            if self.terminal.is_set():  # nothing to stop: finish the deletion now
                threading.Thread(target=self._finish_deletion, daemon=True).start()

    def gone(self) -> None:
        """The Pod was deleted from the API server: stop at once, write nothing."""
        self.removed.set()
        self._deleting.set()
        for run in self.runs:
            run.grace_period = 0.0
            run.stop("the pod was removed")

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def logs(self) -> str:
        return "".join(
            (f"--- restart {index} ---\n" if index else "") + run.logs()
            for index, run in enumerate(self.runs)
        )

    # The container -----------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._publish()
            self._run_containers()
        except Exception as error:
            logger.exception("node agent: pod %s/%s failed", self.namespace, self.name)
            self.agent.errors.append(error)
        finally:
            self.terminal.set()
        if self._deleting.is_set() and not self.removed.is_set():
            self._finish_deletion()

    def _run_containers(self) -> None:
        # A held namespace (NodeAgent.hold): the pod waits as if its image were still being
        # pulled, until the namespace is released or the pod deleted.
        while self.agent.is_held(self.namespace) and not self._deleting.wait(0.05):
            pass
        code: int | None = None
        while True:
            if self._deleting.is_set():
                break
            run = PodRun(
                namespace=self.namespace,
                name=self.name,
                uid=self.uid,
                job_key=(self.namespace, self.name),
                job_uid=self.uid,
                container=self.container,
                grace_period=self._grace,
                prepare=self._prepare,
                report=self._on_report,
                done=lambda _run: None,
                cwd=str(self.directory),
            )
            self.runs.append(run)
            run.start()
            run.finished.wait()
            code = run.exit_code
            terminated = dict(run_terminated(run))
            restart = not self._deleting.is_set() and (
                self.restart_policy == "Always"
                or (self.restart_policy == "OnFailure" and code != 0)
            )
            if not restart:
                self.state = {"terminated": terminated}
                break
            # CrashLoopBackOff: the kubelet's back-off, doubling, reset by nothing here
            delay = min(self.agent.restart_backoff * 2**self.restart_count, MAX_RESTART_BACKOFF)
            self.restart_count += 1
            self.last_state = {"terminated": terminated}
            self.ready = False
            self.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {delay:g}s restarting failed container="
                    f"{self.container.get('name', '')} pod={self.name}_{self.namespace}",
                }
            }
            self._publish()
            if self._deleting.wait(delay):
                break
        self.ready = False
        if "terminated" not in self.state:
            self.state = {
                "terminated": {
                    "exitCode": 137 if code is None else code,
                    "reason": "ContainerStatusUnknown" if code is None else "Error",
                    "startedAt": self.started_at or _now(),
                    "finishedAt": _now(),
                }
            }
        self.phase = "Succeeded" if self.state["terminated"].get("exitCode") == 0 else "Failed"
        self._publish()

    def _on_report(self, run: PodRun, status: JsonObject) -> None:
        """PodRun's view of the container: waiting (a config error) or running."""
        state = status["containerStatuses"][0]["state"]
        if "running" in state:
            self.started_at = state["running"]["startedAt"]
            self.state = state
            self.phase = "Running"
            probe = self.container.get("readinessProbe")
            if probe is None:
                self.ready = True
            elif self._probe_thread is None:
                self._probe_thread = threading.Thread(
                    target=self._probe, args=(probe,), name=f"probe-{self.name}", daemon=True
                )
                self._probe_thread.start()
            self._publish()
        elif "waiting" in state:
            self.state = state
            self._publish()
        # "terminated" is published by _run_containers, which knows whether it restarts

    def _probe(self, probe: JsonObject) -> None:
        """``readinessProbe.httpGet`` (on the translated port), as long as the pod lives."""
        http = probe.get("httpGet")
        if not http:
            self.ready = True
            self._publish()
            return
        port = self._container_port(http.get("port"))
        url = f"http://127.0.0.1:{self.ports.get(port, port)}{http.get('path', '/')}"
        period = float(probe.get("periodSeconds", 10))
        timeout = float(probe.get("timeoutSeconds", 1))
        failures_allowed = int(probe.get("failureThreshold", 3))
        failures = 0
        pool = urllib3.PoolManager()
        if self._deleting.wait(float(probe.get("initialDelaySeconds", 0))):
            return
        while not self.terminal.is_set() and not self._deleting.is_set():
            ok = False
            if "running" in self.state:
                with contextlib.suppress(Exception):
                    answer = pool.request("GET", url, timeout=timeout, retries=False)
                    ok = 200 <= answer.status < 400
            failures = 0 if ok else failures + 1
            ready = ok or (self.ready and failures < failures_allowed)
            if ready != self.ready:
                self.ready = ready
                self._publish()
            if self._deleting.wait(period):
                return

    def _container_port(self, port: Any) -> int:
        if isinstance(port, int):
            return port
        for declared in self.container.get("ports") or []:
            if declared.get("name") == port:
                return int(declared["containerPort"])
        return int(port)

    # Configuration (volumes, env, ports, the token) -------------------------------

    def _prepare(self) -> tuple[list[str], dict[str, str]]:
        agent = self.agent
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.mounts:
            self.mounts = self._mount_volumes()
        if not self.ports:
            self.ports = {
                int(p["containerPort"]): _free_port() for p in self.container.get("ports") or []
            }
        declared = container_env(self.container, self.pod, agent._lookup, {})
        declared = {name: self._translate(value) for name, value in declared.items()}
        argv = resolve_argv(
            self.container, declared, agent.command_map, agent.path, self._translate
        )
        host, port = urllib.parse.urlsplit(agent.plane.url).netloc.rsplit(":", 1)
        env = {
            "PATH": agent.path,
            "HOME": str(self.directory),
            "HOSTNAME": self.name,
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
            **agent.env_overrides,
            **declared,
        }
        token_dir = self.mounts.get(SERVICEACCOUNT_MOUNT)
        if token_dir is not None:
            env["TEST_NODE_SERVICEACCOUNT_DIR"] = str(token_dir)
        return argv, env

    def _translate(self, value: str) -> str:
        return translate(value, self.mounts, self.ports)

    def _mount_volumes(self) -> dict[str, Path]:
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes") or []}
        mounts: dict[str, Path] = {}
        for mount in self.container.get("volumeMounts") or []:
            volume = volumes.get(mount["name"])
            if volume is None:
                raise ContainerConfigError(f"volume {mount['name']!r} not found")
            host = self._volume(volume)
            if mount.get("subPath"):
                host = host / mount["subPath"]
                host.mkdir(parents=True, exist_ok=True)
            mounts[mount["mountPath"]] = host
        return mounts

    def _volume(self, volume: JsonObject) -> Path:
        agent, namespace = self.agent, self.namespace
        directory = self.directory / "volumes" / volume["name"]
        if "emptyDir" in volume:
            directory.mkdir(parents=True, exist_ok=True)
            return directory
        if "hostPath" in volume:
            return Path(volume["hostPath"]["path"])
        if "persistentVolumeClaim" in volume:
            claim_name = volume["persistentVolumeClaim"]["claimName"]
            claim = agent._lookup("v1/persistentvolumeclaims", namespace, claim_name)
            volume_name = ((claim or {}).get("spec") or {}).get("volumeName")
            if not volume_name:
                raise ContainerConfigError(f"persistentvolumeclaim {claim_name!r} is not bound")
            pv = agent._lookup("v1/persistentvolumes", "", volume_name) or {}
            source = pv.get("spec", {}).get("hostPath") or pv.get("spec", {}).get("local")
            if not source:
                raise ContainerConfigError(f"persistentvolume {volume_name!r} has no hostPath")
            return Path(source["path"])
        files: dict[str, str | bytes] = {}
        if "secret" in volume:
            files = self._source_files("v1/secrets", volume["secret"], "secretName")
        elif "configMap" in volume:
            files = self._source_files("v1/configmaps", volume["configMap"], "name")
        elif "projected" in volume:
            for source in volume["projected"].get("sources") or []:
                files.update(self._projected(source))
        else:
            raise ContainerConfigError(f"unsupported volume {sorted(volume)}")
        directory.mkdir(parents=True, exist_ok=True)
        for relative, content in files.items():
            target = directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content if isinstance(content, bytes) else content.encode())
            target.chmod(0o600)
        return directory

    def _source_files(self, kind: str, ref: JsonObject, name_key: str) -> dict[str, str | bytes]:
        obj = self.agent._lookup(kind, self.namespace, ref[name_key])
        if obj is None:
            if ref.get("optional"):
                return {}
            raise ContainerConfigError(f'{kind.split("/")[1][:-1]} "{ref[name_key]}" not found')
        data: dict[str, str | bytes] = {
            k: base64.b64decode(v) if kind == "v1/secrets" else v
            for k, v in (obj.get("data") or {}).items()
        }
        items = ref.get("items")
        if not items:
            return data
        return {item["path"]: data[item["key"]] for item in items if item["key"] in data}

    def _projected(self, source: JsonObject) -> dict[str, str | bytes]:
        if "serviceAccountToken" in source:
            wanted = source["serviceAccountToken"]
            return {wanted["path"]: self._token(wanted)}
        if "configMap" in source:
            return self._source_files("v1/configmaps", source["configMap"], "name")
        if "secret" in source:
            return self._source_files("v1/secrets", source["secret"], "name")
        if "downwardAPI" in source:
            from tests.k8s.kubelet_process import _field

            return {
                item["path"]: _field(self.pod, item["fieldRef"]["fieldPath"])
                for item in source["downwardAPI"].get("items") or []
                if "fieldRef" in item
            }
        raise ContainerConfigError(f"unsupported projected source {sorted(source)}")

    def _token(self, wanted: JsonObject) -> str:
        """A TokenRequest for the pod's ServiceAccount, bound to the pod (as the kubelet)."""
        account = self.pod["spec"].get("serviceAccountName") or "default"
        spec: JsonObject = {
            "expirationSeconds": int(wanted.get("expirationSeconds", 3607)),
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": self.name,
                "uid": self.uid,
            },
        }
        if wanted.get("audience"):
            spec["audiences"] = [wanted["audience"]]
        try:
            answer = self.agent.api.request(
                "POST",
                f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token",
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
            )
        except ApiError as error:  # 403 until the Node authorizer's graph has the pod
            raise ContainerConfigError(f"token for serviceaccount {account!r}: {error}") from error
        return str(answer["status"]["token"])

    # Status ------------------------------------------------------------------------

    def _publish(self) -> None:
        """The pod's status as a strategic merge patch of ``pods/status``."""
        if self.removed.is_set():
            return
        with self._status_lock:
            status = self._status()
            encoded = json.dumps(status, sort_keys=True)
            if encoded == self._published:
                return
            try:
                self.agent.api.request(
                    "PATCH",
                    f"{_pod_path(self.namespace, self.name)}/status",
                    {"metadata": {"uid": self.uid}, "status": status},
                    content_type="application/strategic-merge-patch+json",
                )
                self._published = encoded
            except ApiError as error:
                if error.status in (404, 409, 422) and not self.agent.stopping:
                    # gone or replaced (the uid in the patch is a precondition)
                    logger.info("node agent: status of %s/%s: %s", self.namespace, self.name, error)
                elif not self.agent.stopping:
                    raise

    def _status(self) -> JsonObject:
        stamp = _now()
        started = "running" in self.state
        terminal = self.phase in ("Succeeded", "Failed")
        ready = "True" if self.ready and started else "False"
        state = {key: None for key in ("waiting", "running", "terminated")}
        state.update(self.state)
        container_status: JsonObject = {
            "name": self.container.get("name", ""),
            "image": self.container.get("image", ""),
            "imageID": "",
            "ready": ready == "True",
            "started": started,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": self.last_state,
        }
        run = self.runs[-1] if self.runs else None
        if run is not None and run.pid is not None:
            container_status["containerID"] = f"local://{run.pid}"
        conditions = [
            # the sandbox is up until the pod is terminal; no init containers to wait for
            {"type": "PodReadyToStartContainers", "status": "False" if terminal else "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": ready},
            {"type": "Ready", "status": ready},
        ]
        reason = "PodCompleted" if terminal else "ContainersNotReady"
        for condition in conditions:
            condition["lastTransitionTime"] = stamp
            if condition["type"] in ("ContainersReady", "Ready") and ready == "False":
                condition["reason"] = reason
        return {
            "phase": self.phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.start_time,
            "conditions": conditions,
            "containerStatuses": [container_status],
        }

    def _finish_deletion(self) -> None:
        """The kubelet's last word on a deleted pod: delete it with grace period 0."""
        if self.removed.is_set():
            return
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": self.uid},
        }
        try:
            self.agent.api.request("DELETE", _pod_path(self.namespace, self.name), options)
        except ApiError as error:
            if error.status not in (404, 409) and not self.agent.stopping:
                self.agent.errors.append(error)


def run_terminated(run: PodRun) -> JsonObject:
    """A finished :class:`PodRun`'s ``state.terminated``."""
    code = run.exit_code
    terminated: JsonObject = {
        "exitCode": 137 if code is None else code,
        "reason": run.reason or ("Completed" if code == 0 else "Error"),
        "startedAt": run.started_at or run.finished_at or _now(),
        "finishedAt": run.finished_at or _now(),
    }
    if run.pid is not None:
        terminated["containerID"] = f"local://{run.pid}"
    return terminated


class NodeAgent:
    """The kubelet of one Node of a :class:`ControlPlane`; see the module docstring.

    ``command_map`` maps a command's first word to an argv prefix (``bkjobs`` goes through
    ``in_pod.py`` by default); ``env_overrides`` is given to every container under its own
    env (containers do not inherit the test's environment, as in a cluster).
    ``max_grace_period`` caps a deletion's grace period; ``restart_backoff`` is the first
    CrashLoopBackOff delay (a kubelet's is 10 s).
    """

    def __init__(
        self,
        plane: ControlPlane,
        *,
        name: str | None = None,
        token: str | None = None,
        command_map: Mapping[str, str | Sequence[str]] | None = None,
        env_overrides: Mapping[str, str] | None = None,
        max_grace_period: float = 10.0,
        restart_backoff: float = 10.0,
    ) -> None:
        self.plane = plane
        self.name = name or plane.node_name
        self.api = NodeApi(plane.url, token or plane.node_token, plane.ca_path)
        self.command_map: dict[str, Any] = {
            "bkjobs": [sys.executable, str(IN_POD), "bkjobs"],
            **(command_map or {}),
        }
        self.env_overrides = dict(env_overrides or {})
        self.max_grace_period = max_grace_period
        self.restart_backoff = restart_backoff
        self.path = os.pathsep.join(
            [os.path.dirname(sys.executable), "/usr/local/bin:/usr/bin:/bin"]
        )
        self.workdir = Path(tempfile.mkdtemp(prefix="bkjobs-node-"))
        self.errors: list[BaseException] = []
        self.stopping = False
        self.workers: dict[str, PodWorker] = {}  # by pod uid
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # Lifecycle ---------------------------------------------------------------------

    def start(self) -> NodeAgent:
        self._register()
        for target, name in ((self._watch_pods, "node-watch"), (self._heartbeat, "node-lease")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop every container (``SIGTERM``, ``SIGKILL`` after the grace period) and the
        agent's threads; the Node object stays, as a stopped kubelet's does."""
        self.stopping = True
        self._stop.set()
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            for run in worker.runs:
                run.grace_period = min(run.grace_period, 2.0)
                run.stop("the node agent stopped")
            worker._deleting.set()
        for worker in workers:
            worker.join(timeout=10)
        for thread in self._threads:
            thread.join(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> NodeAgent:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # For tests ---------------------------------------------------------------------

    def hold(self, namespace: str) -> None:
        """Start no container of a pod of ``namespace`` until :meth:`release`: its pods stay
        ``Pending`` (``ContainerCreating``), as on a node whose kubelet has not got to them.
        The contract suite's ``kubernetes-real`` backend holds its namespace until the test
        starts its "workers"; containers already running are not touched."""
        with self._lock:
            self._held.add(namespace)

    def release(self, namespace: str) -> None:
        with self._lock:
            self._held.discard(namespace)

    def is_held(self, namespace: str) -> bool:
        with self._lock:
            return namespace in self._held

    def worker(self, namespace: str, name: str) -> PodWorker | None:
        """The newest worker of the pod ``namespace/name`` (pods can be recreated)."""
        with self._lock:
            found = [w for w in self.workers.values() if (w.namespace, w.name) == (namespace, name)]
        return found[-1] if found else None

    def pods(self, namespace: str | None = None) -> list[PodWorker]:
        with self._lock:
            workers = list(self.workers.values())
        return [w for w in workers if namespace is None or w.namespace == namespace]

    def logs(self, namespace: str, name: str) -> str:
        worker = self.worker(namespace, name)
        return "" if worker is None else worker.logs()

    def dump_logs(self, namespace: str | None = None) -> str:
        return "\n".join(
            f"--- pod {w.namespace}/{w.name} ({w.phase}, {w.state}) ---\n{w.logs()}"
            for w in self.pods(namespace)
        )

    def port(self, namespace: str, name: str, container_port: int) -> int:
        """The host port where the pod's ``container_port`` listens (port translation)."""
        worker = wait_until(
            lambda: (w := self.worker(namespace, name)) and w.ports and w,
            timeout=60,
            what=f"pod {namespace}/{name} to be started",
        )
        return worker.ports[container_port]

    # The Node ----------------------------------------------------------------------

    def _register(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
        }
        try:
            self.api.request("POST", "/api/v1/nodes", node)
        except ApiError as error:
            if error.status != 409:
                raise
        self._node_status()
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": self.name,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": _micro_now(),
            },
        }
        try:
            self.api.request(
                "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease
            )
        except ApiError as error:
            if error.status != 409:
                raise

    def _node_status(self) -> None:
        stamp = _now()
        version = "v1.37.2"

        def condition(kind: str, status: str, reason: str, message: str) -> JsonObject:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
            }

        resources = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        status = {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
                condition(
                    "Ready", "True", "KubeletReady", "the bookkeeper-jobs node agent is ready"
                ),
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.name},
            ],
            "nodeInfo": {
                "machineID": "bkjobs",
                "systemUUID": "bkjobs",
                "bootID": "bkjobs",
                "kernelVersion": os.uname().release,
                "osImage": "bookkeeper-jobs node agent (local processes)",
                "containerRuntimeVersion": "local://0",
                "kubeletVersion": version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
        self.api.request(
            "PATCH",
            f"/api/v1/nodes/{self.name}/status",
            {"status": status},
            content_type="application/strategic-merge-patch+json",
        )

    def _heartbeat(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        while not self._stop.wait(LEASE_RENEW):
            with contextlib.suppress(Exception):
                self.api.request(
                    "PATCH",
                    path,
                    {"spec": {"renewTime": _micro_now()}},
                    content_type="application/merge-patch+json",
                )

    # Pods --------------------------------------------------------------------------

    def _watch_pods(self) -> None:
        selector = {"fieldSelector": f"spec.nodeName={self.name}"}
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    listed = self.api.request("GET", "/api/v1/pods", params=selector)
                    version = listed["metadata"]["resourceVersion"]
                    for pod in listed.get("items") or []:
                        self._sync(pod)
                params = {
                    **selector,
                    "resourceVersion": version,
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": str(WATCH_SECONDS),
                }
                for event in self.api.watch("/api/v1/pods", params):
                    if self._stop.is_set():
                        return
                    kind, obj = event["type"], event["object"]
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            version = ""  # expired: list again
                        break
                    version = obj["metadata"]["resourceVersion"]
                    if kind == "DELETED":
                        self._removed(obj)
                    elif kind in ("ADDED", "MODIFIED"):
                        self._sync(obj)
            except Exception as error:
                if self._stop.is_set():
                    return
                if isinstance(error, ApiError) and error.status == 410:
                    version = ""
                logger.info("node agent: pod watch: %r; retrying", error)
                self._stop.wait(0.5)

    def _sync(self, pod: JsonObject) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            worker = self.workers.get(uid)
            if worker is None:
                phase = (pod.get("status") or {}).get("phase")
                if phase in ("Succeeded", "Failed") or self.stopping:
                    return  # finished before this agent saw it
                worker = self.workers[uid] = PodWorker(self, pod)
                worker.update(pod)
                worker.start()
                return
        worker.update(pod)

    def _removed(self, pod: JsonObject) -> None:
        with self._lock:
            worker = self.workers.get(pod["metadata"]["uid"])
        if worker is not None:
            worker.gone()

    def _lookup(self, resource: str, namespace: str, name: str) -> JsonObject | None:
        """Read an object the way a kubelet may: as the node (404 → ``None``; a 403 is the
        Node authorizer not having seen the pod's reference yet, so the pod waits)."""
        group, plural = resource.rsplit("/", 1)
        prefix = "/api/v1" if group == "v1" else f"/apis/{group}"
        path = (
            f"{prefix}/namespaces/{namespace}/{plural}/{name}"
            if namespace
            else f"{prefix}/{plural}/{name}"
        )
        try:
            result: JsonObject = self.api.request("GET", path)
            return result
        except ApiError as error:
            if error.status == 404:
                return None
            raise ContainerConfigError(f"{plural} {namespace}/{name}: {error}") from error
