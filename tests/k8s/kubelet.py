"""A test "kubelet + Job controller" for the API-server emulator (tests only).

The emulator stores Jobs but runs nothing. :class:`Kubelet` subscribes to its
``batch/v1`` Jobs and plays the Job controller: it creates each Job's pods in the
emulator and runs their container's ``command`` + ``args`` as local processes (see
:mod:`tests.k8s.kubelet_process`), so a test can drive the real ``bkjobs task run``
entry point or a plain ``python -c`` script through the same objects a cluster shows.

Semantics (https://kubernetes.io/docs/concepts/workloads/controllers/job/, the
``NonIndexed`` completion mode, Kubernetes 1.31+ conditions):

* Pods: ``<job name>-<5 random characters>``, the template's labels plus ``job-name``,
  ``controller-uid`` and their ``batch.kubernetes.io/`` forms, an ownerReference to the
  Job (``controller`` and ``blockOwnerDeletion``), the ``batch.kubernetes.io/job-tracking``
  finalizer (removed once the controller has counted the terminated pod, so deleting a
  running pod, or its Job in the foreground, completes only after the process stopped),
  phase ``Pending`` → ``Running`` → ``Succeeded``/``Failed`` with
  ``containerStatuses[0].state``.
* Retries: a failed pod counts against ``backoffLimit``; the next pod starts after
  ``backoff_base * 2**(consecutive failures - 1)`` (10 s in a cluster, capped at
  ``backoff_max``). ``podFailurePolicy`` rules are tried in order on a failed pod:
  ``FailJob`` fails the Job at once (reason ``PodFailurePolicy``), ``Ignore`` retries
  without counting, ``Count`` counts; ``onExitCodes`` (``In``/``NotIn``, optional
  ``containerName``) and ``onPodConditions`` match as documented.
* Failure, checked in the controller's order: the policy's ``FailJob``, then ``failed >
  backoffLimit`` (``BackoffLimitExceeded``), then ``activeDeadlineSeconds`` since
  ``startTime`` (``DeadlineExceeded``: the deadline wins over retries left). The Job gets
  ``FailureTarget`` at once, its active pods are deleted (their processes get ``SIGTERM``,
  then ``SIGKILL`` after ``grace_period``) and count as failed, and ``Failed`` follows
  once no process is left. Success: ``SuccessCriteriaMet`` then ``Complete`` and
  ``completionTime`` when ``succeeded`` reaches ``completions``.
* ``status``: ``startTime``, ``active``, ``ready``, ``terminating``, ``succeeded``,
  ``failed`` (zero counts omitted, as the API does), ``conditions``, ``completionTime``.
* ``ttlSecondsAfterFinished``: the finished Job is deleted (foreground cascade with a uid
  precondition, as the TTL-after-finished controller does) that many seconds after it
  finished.
* Deletion: the kubelet stops the process of every pod that gets a
  ``deletionTimestamp`` or disappears; the emulator's garbage collector deletes a Job's
  pods by their ownerReference (``Foreground``/``Background``; ``Orphan`` leaves them
  running, as in a cluster).

Everything runs on background threads: the subscription callbacks only enqueue (they run
with the emulator's store locked); one controller thread owns the Jobs' state and one
thread per pod runs its process. Use it as a context manager::

    with Kubelet(k8s_api, env_overrides={"KUBECONFIG": str(k8s_api.kubeconfig_path)}) as kubelet:
        k8s_api.create("batch/v1/jobs", "default", manifest)
        job = kubelet.wait_for_job("default", manifest["metadata"]["name"])
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from tests.k8s.emulator import ApiError, Change, KubernetesEmulator
from tests.k8s.kubelet_process import (
    CommandMap,
    ContainerConfigError,
    PodRun,
    container_env,
    resolve_argv,
)
from tests.support.polling import wait_until

__all__ = ["ContainerConfigError", "Kubelet", "PodRun"]

JsonObject = dict[str, Any]
Item = tuple[str, ...]
JOBS, PODS = "batch/v1/jobs", "v1/pods"
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
NODE_NAME = "test-kubelet"
MAX_GENERATE_NAME = 58  # the API server keeps 58 characters of a generateName base
_STOP: Item = ("stop",)
logger = logging.getLogger(__name__)


@dataclass
class JobState:
    """What the controller knows about one Job (by uid); controller thread only."""

    uid: str
    namespace: str
    name: str
    start: float | None = None  # time.monotonic() of startTime
    start_time: str | None = None
    runs: list[PodRun] = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0
    consecutive_failures: int = 0
    next_pod_at: float = 0.0
    fail_job_message: str | None = None
    failure: tuple[str, str] | None = None  # (reason, message) once FailureTarget is set
    success: bool = False
    conditions: list[JsonObject] = field(default_factory=list)
    completion_time: str | None = None
    finished_wall: float | None = None  # time.time() when Complete/Failed was set
    deadline_scheduled: bool = False
    ttl_scheduled: bool = False

    @property
    def finished(self) -> bool:
        return self.finished_wall is not None


class Kubelet:
    """Runs the emulator's Jobs as local processes; see the module docstring.

    ``env_overrides`` is laid over the test's own environment (``inherit_env``) and under
    each container's ``env``; ``env_force`` goes over the container's ``env`` (for values
    a manifest sets for the cluster, such as ``BKJOBS_DATA_DIR=/data``). ``PATH`` starts
    with the directory of ``sys.executable`` so that ``bkjobs`` is the venv's.
    ``secrets`` (name → key → value) serves ``secretKeyRef``/``secretRef`` for Secrets
    the emulator does not hold.
    ``command_map`` maps a command's first word to a replacement (a path or an argv
    prefix); ``bkjobs`` defaults to the venv's script.
    """

    def __init__(
        self,
        emulator: KubernetesEmulator,
        *,
        env_overrides: Mapping[str, str] | None = None,
        env_force: Mapping[str, str] | None = None,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
        command_map: CommandMap | None = None,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        grace_period: float = 1.0,
        inherit_env: bool = True,
        cwd: str | None = None,
        node_name: str = NODE_NAME,
    ) -> None:
        self.api = emulator
        self.secrets = {name: dict(values) for name, values in (secrets or {}).items()}
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.grace_period = grace_period
        self.cwd = cwd
        self.node_name = node_name
        self.path = os.pathsep.join(
            [os.path.dirname(sys.executable), os.environ.get("PATH", os.defpath)]
        )
        self.command_map: dict[str, Any] = dict(command_map or {})
        if "bkjobs" not in self.command_map:
            found = shutil.which("bkjobs", path=self.path)
            if found is not None:
                self.command_map["bkjobs"] = found
        self.base_env: dict[str, str] = dict(os.environ) if inherit_env else {}
        self.base_env["PATH"] = self.path
        self.base_env.update(env_overrides or {})
        self.env_force = dict(env_force or {})
        self.errors: list[BaseException] = []
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Item]] = []
        self._sequence = itertools.count()
        self._jobs: dict[tuple[str, str], JobState] = {}
        self._runs: dict[str, PodRun] = {}  # by pod uid, in creation order
        self._runs_lock = threading.Lock()
        self._released: set[str] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False

    # Lifecycle ---------------------------------------------------------------------

    def start(self) -> Kubelet:
        self._unsubscribe = [
            self.api.subscribe(self._on_job, JOBS),
            self.api.subscribe(self._on_pod, PODS),
        ]
        for job in self.api.list(JOBS):
            self._queue.put(("job", job["metadata"]["namespace"], job["metadata"]["name"]))
        self._thread = threading.Thread(target=self._loop, name="test-kubelet", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the controller, then every process (``SIGTERM``, ``SIGKILL`` after the
        grace period), and release the pods' finalizers so nothing is left blocked."""
        if self._thread is None:
            return
        self._stopping = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._queue.put(_STOP)
        self._thread.join(timeout=10)
        self._thread = None
        runs = self.runs()
        for run in runs:
            run.stop("the test kubelet stopped")
        for run in runs:
            run.join(timeout=self.grace_period + 5)
        for run in runs:
            self._release(run)

    def __enter__(self) -> Kubelet:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
        if kind is None and self.errors:
            raise AssertionError(f"the test kubelet failed: {self.errors!r}") from self.errors[0]

    # For tests ---------------------------------------------------------------------

    def runs(self, job_name: str | None = None) -> list[PodRun]:
        """The pods this kubelet ran (of one Job, if named), oldest first."""
        with self._runs_lock:
            runs = list(self._runs.values())
        return [r for r in runs if job_name is None or r.job_key[1] == job_name]

    def logs(self, pod_name: str) -> str:
        """A pod's stdout and stderr (with ``[test-kubelet]`` lines for start errors)."""
        for run in self.runs():
            if run.name == pod_name:
                return run.logs()
        raise KeyError(f"no pod {pod_name!r} ran on this kubelet")

    def dump_logs(self, job_name: str | None = None) -> str:
        """Every pod's log with a header: for assertion messages of failed tests."""
        return "\n".join(
            f"--- pod {r.namespace}/{r.name} ({r.phase}, exit code {r.exit_code}) ---\n{r.logs()}"
            for r in self.runs(job_name)
        )

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
    ) -> Any:
        """:func:`~tests.support.polling.wait_until` ``predicate``, whose failure also shows
        this kubelet's errors and every pod's log."""
        try:
            return wait_until(predicate, timeout=timeout, interval=0.01, what=what)
        except AssertionError as error:
            raise AssertionError(
                f"{error}; kubelet errors: {self.errors!r}\n{self.dump_logs()}"
            ) from None

    def wait_for_job(
        self,
        namespace: str,
        name: str,
        conditions: str | Iterable[str] = ("Complete", "Failed"),
        timeout: float = 10.0,
    ) -> JsonObject:
        """The Job once one of ``conditions`` is ``True`` on it."""
        wanted = {conditions} if isinstance(conditions, str) else set(conditions)

        def finished() -> JsonObject | None:
            try:
                job = self.api.get(JOBS, namespace, name)
            except ApiError as error:
                if error.code == 404:
                    return None
                raise
            found = any(
                c.get("type") in wanted and c.get("status") == "True"
                for c in (job.get("status") or {}).get("conditions") or []
            )
            return job if found else None

        result: JsonObject = self.wait_for(
            finished, timeout, f"Job {namespace}/{name} to be {sorted(wanted)}"
        )
        return result

    # Subscriptions (store locked: enqueue only) -----------------------------------

    def _on_job(self, change: Change) -> None:
        metadata = change.object["metadata"]
        self._queue.put(("job", metadata.get("namespace") or "", metadata["name"]))

    def _on_pod(self, change: Change) -> None:
        metadata = change.object["metadata"]
        if change.type == "DELETED" or "deletionTimestamp" in metadata:
            self._queue.put(("pod-deleting", metadata["uid"]))

    # The controller thread ---------------------------------------------------------

    def _loop(self) -> None:
        while True:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            try:
                item: Item | None = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item == _STOP:
                return
            items = [] if item is None else [item]
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                items.append(heapq.heappop(self._timers)[2])
            for each in items:
                if not self._stopping:
                    self._process(each)

    def _later(self, when: float, item: Item) -> None:
        heapq.heappush(self._timers, (when, next(self._sequence), item))

    def _process(self, item: Item) -> None:
        try:
            if item[0] == "job":
                self._sync_job(item[1], item[2])
            elif item[0] == "pod-deleting":
                run = self._run_by_uid(item[1])
                if run is not None:
                    run.stop("the pod was deleted")
            elif item[0] == "pod-done":
                self._pod_done(item[1])
            elif item[0] == "ttl":
                self._expire(item[1], item[2], item[3])
        except ApiError as error:
            if error.code == 409:
                self._later(time.monotonic() + 0.05, item)
            elif error.code != 404:
                self._failed(item, error)
        except Exception as error:
            self._failed(item, error)

    def _failed(self, item: Item, error: Exception) -> None:
        logger.exception("The test kubelet failed on %s", item)
        self.errors.append(error)

    def _run_by_uid(self, uid: str) -> PodRun | None:
        with self._runs_lock:
            return self._runs.get(uid)

    # Job controller ----------------------------------------------------------------

    def _sync_job(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        try:
            job = self.api.get(JOBS, namespace, name)
        except ApiError as error:
            if error.code != 404:
                raise
            self._jobs.pop(key, None)  # pods left (Orphan) run on; their finalizer goes later
            return
        metadata, spec = job["metadata"], job.get("spec") or {}
        state = self._jobs.get(key)
        if state is None or state.uid != metadata["uid"]:
            state = self._jobs[key] = _adopt(job)
        if "deletionTimestamp" in metadata:
            return  # the garbage collector deletes the pods; their processes stop then
        if state.finished:
            self._schedule_ttl(state, spec)
            return
        now = time.monotonic()
        if state.start is None:
            if spec.get("suspend"):
                return
            state.start, state.start_time = now, _now()
        newly = self._account(state, spec)
        self._decide(state, spec, now)
        unfinished = [r for r in state.runs if not r.accounted]
        if state.failure is not None or state.success:
            for run in unfinished:
                if not run.stopping:
                    self._delete_pod(run)
            if not unfinished:
                self._finish(state)
        else:
            self._start_pods(state, job, now)
        self._write_status(state, job)
        for run in newly:
            self._release(run)
        if state.finished:
            self._schedule_ttl(state, spec)

    def _account(self, state: JobState, spec: JsonObject) -> list[PodRun]:
        """Count pods that terminated since the last sync; returns them."""
        rules = (spec.get("podFailurePolicy") or {}).get("rules") or []
        newly = []
        for run in state.runs:
            if run.accounted or not run.finished.is_set():
                continue
            run.accounted = True
            newly.append(run)
            if run.phase == "Succeeded":
                state.succeeded += 1
                state.consecutive_failures = 0
                continue
            if run.deleted_by_controller:
                if state.failure is not None:
                    state.failed += 1
                continue
            action, message = self._policy_action(rules, run)
            if action == "Ignore":
                continue
            state.failed += 1
            state.consecutive_failures += 1
            delay = self.backoff_base * 2 ** (state.consecutive_failures - 1)
            finished = run.finished_monotonic or time.monotonic()
            state.next_pod_at = max(state.next_pod_at, finished + min(delay, self.backoff_max))
            if action == "FailJob" and state.fail_job_message is None:
                state.fail_job_message = message
        return newly

    def _policy_action(self, rules: list[JsonObject], run: PodRun) -> tuple[str, str]:
        """The first matching ``podFailurePolicy`` rule's action (``Count`` if none)."""
        container = run.container.get("name", "")
        pod_conditions: list[JsonObject] | None = None
        for index, rule in enumerate(rules):
            action = rule.get("action", "Count")
            codes = rule.get("onExitCodes")
            if codes:
                if codes.get("containerName") not in (None, container):
                    continue
                code = run.exit_code
                if code is None or code == 0:
                    continue
                if (code in (codes.get("values") or [])) == (codes.get("operator") == "In"):
                    return action, (
                        f"Container {container} for pod {run.namespace}/{run.name} failed with "
                        f"exit code {code} matching {action} rule at index {index}"
                    )
            for wanted in rule.get("onPodConditions") or []:
                if pod_conditions is None:
                    pod_conditions = self._pod_conditions(run)
                for condition in pod_conditions:
                    if condition.get("type") == wanted.get("type") and condition.get(
                        "status"
                    ) == wanted.get("status", "True"):
                        return action, (
                            f"Pod {run.namespace}/{run.name} has condition {wanted['type']} "
                            f"matching {action} rule at index {index}"
                        )
        return "Count", ""

    def _pod_conditions(self, run: PodRun) -> list[JsonObject]:
        try:
            pod = self.api.get(PODS, run.namespace, run.name)
        except ApiError:
            return []
        conditions: list[JsonObject] = (pod.get("status") or {}).get("conditions") or []
        return conditions

    def _decide(self, state: JobState, spec: JsonObject, now: float) -> None:
        """Set ``FailureTarget`` or ``SuccessCriteriaMet``, in the controller's order."""
        if state.failure is not None or state.success:
            return
        deadline = spec.get("activeDeadlineSeconds")
        backoff_limit = spec.get("backoffLimit", 6)
        if state.fail_job_message is not None:
            state.failure = ("PodFailurePolicy", state.fail_job_message)
        elif backoff_limit is not None and state.failed > backoff_limit:
            state.failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif deadline is not None and state.start is not None and now >= state.start + deadline:
            state.failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        elif state.succeeded >= (spec.get("completions") or 1):
            state.success = True
        if state.failure is not None:
            state.conditions.append(_condition("FailureTarget", *state.failure))
        elif state.success:
            message = "Reached expected number of succeeded pods"
            state.conditions.append(_condition("SuccessCriteriaMet", "CompletionsReached", message))

    def _finish(self, state: JobState) -> None:
        if state.failure is not None:
            state.conditions.append(_condition("Failed", *state.failure))
        else:
            message = "Reached expected number of succeeded pods"
            state.conditions.append(_condition("Complete", "CompletionsReached", message))
            state.completion_time = _now()
        state.finished_wall = time.time()

    def _start_pods(self, state: JobState, job: JsonObject, now: float) -> None:
        spec = job["spec"]
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and state.start is not None and not state.deadline_scheduled:
            state.deadline_scheduled = True
            self._later(state.start + deadline, ("job", state.namespace, state.name))
        if spec.get("suspend"):
            return
        active = [r for r in state.runs if not r.accounted and not r.stopping]
        completions = spec.get("completions") or 1
        wanted = min(spec.get("parallelism", 1), completions - state.succeeded) - len(active)
        if wanted <= 0:
            return
        if now < state.next_pod_at:
            self._later(state.next_pod_at, ("job", state.namespace, state.name))
            return
        for _ in range(wanted):
            self._create_pod(state, job)

    def _create_pod(self, state: JobState, job: JsonObject) -> None:
        template = job["spec"].get("template") or {}
        template_meta = template.get("metadata") or {}
        uid, name = state.uid, state.name
        labels = {
            **(template_meta.get("labels") or {}),
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
        metadata: JsonObject = {
            "generateName": f"{name}-"[:MAX_GENERATE_NAME],
            "namespace": state.namespace,
            "labels": labels,
            "finalizers": [TRACKING_FINALIZER],
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        if template_meta.get("annotations"):
            metadata["annotations"] = dict(template_meta["annotations"])
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": {**(template.get("spec") or {}), "nodeName": self.node_name},
        }
        for attempt in itertools.count():
            try:
                pod = self.api.create(PODS, state.namespace, body)
                break
            except ApiError as error:  # a generated name already taken: draw another
                if error.reason != "AlreadyExists" or attempt >= 5:
                    raise
        containers = pod["spec"].get("containers") or [{}]
        run = PodRun(
            namespace=state.namespace,
            name=pod["metadata"]["name"],
            uid=pod["metadata"]["uid"],
            job_key=(state.namespace, name),
            job_uid=uid,
            container=containers[0],
            grace_period=self._grace_period(pod),
            prepare=lambda: self._prepare(pod, containers[0]),
            report=self._report,
            done=lambda run: self._queue.put(("pod-done", run.uid)),
            cwd=self.cwd,
        )
        with self._runs_lock:
            self._runs[run.uid] = run
        state.runs.append(run)
        run.start()

    def _grace_period(self, pod: JsonObject) -> float:
        declared = pod["spec"].get("terminationGracePeriodSeconds")
        return self.grace_period if declared is None else min(float(declared), self.grace_period)

    def _delete_pod(self, run: PodRun) -> None:
        run.deleted_by_controller = True
        try:
            self.api.delete(PODS, run.namespace, run.name, "Background")
        except ApiError as error:
            if error.code != 404:
                raise
        run.stop("the Job controller deleted the pod")

    def _write_status(self, state: JobState, job: JsonObject) -> None:
        unfinished = [r for r in state.runs if not r.accounted]
        active = [r for r in unfinished if not r.stopping]
        desired: JsonObject = {
            "startTime": state.start_time,
            "active": len(active) or None,
            "ready": sum(r.phase == "Running" for r in active),
            "terminating": len(unfinished) - len(active),
            "succeeded": state.succeeded or None,
            "failed": state.failed or None,
            "conditions": list(state.conditions) or None,
            "completionTime": state.completion_time,
        }
        current = job.get("status") or {}
        patch = {k: v for k, v in desired.items() if current.get(k) != v}
        if patch:
            self.api.patch_status(JOBS, state.namespace, state.name, patch)

    def _schedule_ttl(self, state: JobState, spec: JsonObject) -> None:
        ttl = spec.get("ttlSecondsAfterFinished")
        if ttl is None or state.ttl_scheduled or state.finished_wall is None:
            return
        state.ttl_scheduled = True
        delay = max(0.0, state.finished_wall + ttl - time.time())
        self._later(time.monotonic() + delay, ("ttl", state.namespace, state.name, state.uid))

    def _expire(self, namespace: str, name: str, uid: str) -> None:
        try:
            self.api.store.delete(JOBS, namespace, name, "Foreground", {"uid": uid})
        except ApiError as error:
            if error.code not in (404, 409):  # gone, or a new Job of the same name
                raise

    # Pods --------------------------------------------------------------------------

    def _prepare(self, pod: JsonObject, container: JsonObject) -> tuple[list[str], dict[str, str]]:
        declared = container_env(container, pod, self._lookup, self.secrets)
        argv = resolve_argv(container, declared, self.command_map, self.path)
        env = {**self.base_env, "HOSTNAME": pod["metadata"]["name"], **declared, **self.env_force}
        return argv, env

    def _lookup(self, resource: str, namespace: str, name: str) -> JsonObject | None:
        try:
            return self.api.get(resource, namespace, name)
        except ApiError as error:
            if error.code == 404:
                return None
            raise

    def _report(self, run: PodRun, status: JsonObject) -> None:
        try:
            self.api.patch_status(PODS, run.namespace, run.name, status)
        except ApiError as error:
            if error.code != 404:
                raise
        self._queue.put(("job", *run.job_key))

    def _pod_done(self, uid: str) -> None:
        run = self._run_by_uid(uid)
        if run is None:
            return
        state = self._jobs.get(run.job_key)
        if state is not None and state.uid == run.job_uid:
            self._sync_job(*run.job_key)  # counts it (unless the Job is being deleted)
        self._release(run)

    def _release(self, run: PodRun) -> None:
        """Remove the job-tracking finalizer (a deleting pod then goes away)."""
        if run.uid in self._released:
            return
        for _ in range(10):
            try:
                pod = self.api.get(PODS, run.namespace, run.name)
            except ApiError as error:
                if error.code == 404:
                    break
                raise
            finalizers = pod["metadata"].get("finalizers") or []
            if pod["metadata"]["uid"] != run.uid or TRACKING_FINALIZER not in finalizers:
                break
            rest = [f for f in finalizers if f != TRACKING_FINALIZER]
            patch = {
                "metadata": {
                    "finalizers": rest or None,
                    "resourceVersion": pod["metadata"]["resourceVersion"],
                }
            }
            try:
                self.api.patch(PODS, run.namespace, run.name, patch)
                break
            except ApiError as error:
                if error.code not in (404, 409):
                    raise
                if error.code == 404:
                    break
        self._released.add(run.uid)


def _adopt(job: JsonObject) -> JobState:
    """The state of a Job seen for the first time (maybe started by an earlier kubelet)."""
    metadata, status = job["metadata"], job.get("status") or {}
    state = JobState(metadata["uid"], metadata.get("namespace") or "", metadata["name"])
    state.succeeded = status.get("succeeded") or 0
    state.failed = status.get("failed") or 0
    state.conditions = list(status.get("conditions") or [])
    state.completion_time = status.get("completionTime")
    if status.get("startTime"):
        state.start_time = status["startTime"]
        state.start = time.monotonic() - (time.time() - _parse(status["startTime"]))
    for condition in state.conditions:
        if condition.get("status") != "True":
            continue
        kind = condition.get("type")
        if kind == "FailureTarget":
            state.failure = (condition.get("reason", ""), condition.get("message", ""))
        elif kind == "SuccessCriteriaMet":
            state.success = True
        elif kind in ("Complete", "Failed"):
            state.finished_wall = _parse(condition.get("lastTransitionTime") or _now())
    return state


def _condition(kind: str, reason: str, message: str) -> JsonObject:
    stamp = _now()
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
