"""The node half of the test kubelet: one pod's container as a local process.

A :class:`PodRun` starts the container's ``command`` + ``args`` with ``subprocess.Popen``
(in a new session, so the whole process group can be signalled), captures stdout and
stderr together (``kubectl logs`` shows both), reports the container's state through a
callback, and stops the process the way the kubelet stops a container: ``SIGTERM``, then
``SIGKILL`` after the grace period. Exit codes follow the container runtime: a process
killed by signal ``N`` exits ``128 + N``; a command that cannot be started is a
``StartError`` with exit code 128.
See https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/ and
https://kubernetes.io/docs/tasks/inject-data-application/define-interdependent-environment-variables/
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

JsonObject = dict[str, Any]
CommandMap = Mapping[str, str | Sequence[str]]
Lookup = Callable[[str, str, str], JsonObject | None]  # (resource, namespace, name)
POLL = 0.01
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][-._A-Za-z0-9]*)\)")


class ContainerConfigError(Exception):
    """The container cannot be configured yet (a missing Secret or key): the kubelet
    reports ``CreateContainerConfigError`` and tries again, the pod stays Pending."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names are replaced, ``$$`` escapes, and
    unknown references stay as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REFERENCE.sub(replace, text)


def _field(pod: JsonObject, path: str) -> str:
    metadata, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": status.get("podIP", "127.0.0.1"),
        "status.hostIP": status.get("hostIP", "127.0.0.1"),
    }
    if path in simple:
        return str(simple[path] or "")
    found = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if found:
        return str((metadata.get(found.group(1)) or {}).get(found.group(2), ""))
    raise ContainerConfigError(f"unsupported fieldRef {path!r}")


def _data(obj: JsonObject, secret: bool) -> dict[str, str]:
    """A Secret's or ConfigMap's values as text (``data`` is base64 in a Secret)."""
    values = {
        key: base64.b64decode(value).decode() if secret else str(value)
        for key, value in (obj.get("data") or {}).items()
    }
    values.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
    return values


def container_env(
    container: JsonObject,
    pod: JsonObject,
    lookup: Lookup,
    secrets: Mapping[str, Mapping[str, str]],
) -> dict[str, str]:
    """The variables a container declares (``envFrom`` first, then ``env``), resolved.

    ``lookup`` reads Secrets and ConfigMaps from the cluster; ``secrets`` (name → key →
    value) serves Secrets the cluster does not hold. Raises
    :class:`ContainerConfigError` for a missing required source."""
    namespace = pod["metadata"].get("namespace") or "default"
    env: dict[str, str] = {}

    def source(kind: str, name: str, optional: bool) -> dict[str, str] | None:
        obj = lookup(kind, namespace, name)
        if obj is not None:
            return _data(obj, kind == "v1/secrets")
        if kind == "v1/secrets" and name in secrets:
            return dict(secrets[name])
        if optional:
            return None
        singular = "secret" if kind == "v1/secrets" else "configmap"
        raise ContainerConfigError(f'{singular} "{name}" not found')

    for item in container.get("envFrom") or []:
        for key, kind in (("secretRef", "v1/secrets"), ("configMapRef", "v1/configmaps")):
            ref = item.get(key)
            if ref:
                values = source(kind, ref["name"], bool(ref.get("optional")))
                prefix = item.get("prefix") or ""
                env.update({prefix + k: v for k, v in (values or {}).items()})
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item or not item.get("valueFrom"):
            env[name] = expand(str(item.get("value") or ""), env)
            continue
        value_from = item["valueFrom"]
        if "fieldRef" in value_from:
            env[name] = _field(pod, value_from["fieldRef"]["fieldPath"])
            continue
        for key, kind in (("secretKeyRef", "v1/secrets"), ("configMapKeyRef", "v1/configmaps")):
            ref = value_from.get(key)
            if not ref:
                continue
            optional = bool(ref.get("optional"))
            values = source(kind, ref["name"], optional)
            if values is not None and ref["key"] in values:
                env[name] = values[ref["key"]]
            elif not optional:
                raise ContainerConfigError(
                    f"couldn't find key {ref['key']} in {kind.split('/')[1][:-1]} "
                    f"{namespace}/{ref['name']}"
                )
            break
        else:
            raise ContainerConfigError(f"unsupported valueFrom in env {name!r}")
    return env


def resolve_argv(
    container: JsonObject,
    env: Mapping[str, str],
    command_map: CommandMap,
    path: str,
    translate: Callable[[str], str] = str,
) -> list[str]:
    """``command`` + ``args`` with ``$(VAR)`` expanded; the first word mapped through
    ``command_map`` or looked up on ``path``. ``translate`` rewrites the container's own
    words after the first (never the mapped prefix: a checkout under ``/tmp`` must not be
    taken for a pod's ``/tmp`` mount). Raises ``FileNotFoundError`` as the runtime reports
    an executable it cannot find."""
    command = [expand(str(word), env) for word in container.get("command") or []]
    args = [expand(str(word), env) for word in container.get("args") or []]
    argv = command + args
    argv[1:] = [translate(word) for word in argv[1:]]
    if not command:
        raise FileNotFoundError(
            "the container has no command: the test kubelet runs no images, "
            "so every container needs an explicit command"
        )
    head = argv[0]
    if head in command_map:
        mapped = command_map[head]
        prefix = [mapped] if isinstance(mapped, str) else list(mapped)
        return prefix + argv[1:]
    if os.sep in head:
        return argv
    found = shutil.which(head, path=path)
    if found is None:
        raise FileNotFoundError(f'exec: "{head}": executable file not found in $PATH')
    return [found, *argv[1:]]


class PodRun:
    """One pod's container, run on a background thread.

    ``prepare()`` returns ``(argv, env)`` or raises :class:`ContainerConfigError` (the
    pod waits and the kubelet retries) or ``OSError`` (a ``StartError``).
    ``report(run, status)`` publishes a pod status; ``done(run)`` runs once at the end.
    """

    def __init__(
        self,
        *,
        namespace: str,
        name: str,
        uid: str,
        job_key: tuple[str, str],
        job_uid: str,
        container: JsonObject,
        grace_period: float,
        prepare: Callable[[], tuple[list[str], dict[str, str]]],
        report: Callable[[PodRun, JsonObject], None],
        done: Callable[[PodRun], None],
        cwd: str | None = None,
    ) -> None:
        self.namespace, self.name, self.uid = namespace, name, uid
        self.job_key, self.job_uid = job_key, job_uid
        self.container = container
        self.grace_period = grace_period
        self._prepare, self._report, self._done, self._cwd = prepare, report, done, cwd
        self.phase = "Pending"
        self.exit_code: int | None = None
        self.reason: str | None = None
        self.pid: int | None = None
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.created_monotonic = time.monotonic()
        self.finished_monotonic: float | None = None
        self.stop_reason: str | None = None
        self.finished = threading.Event()
        self.accounted = False  # the Job controller counted it (controller thread only)
        self.deleted_by_controller = False
        self._stop = threading.Event()
        self._log: list[str] = []
        self._log_lock = threading.Lock()
        self._thread = threading.Thread(target=self._main, name=f"pod-{name}", daemon=True)

    # Control -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, reason: str) -> None:
        """Ask the container to stop (``SIGTERM``, ``SIGKILL`` after the grace period)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def logs(self) -> str:
        with self._log_lock:
            return "".join(self._log)

    def note(self, message: str) -> None:
        """A kubelet line in the log (no process output exists for these failures)."""
        self._append(f"[test-kubelet] {message}\n")

    def _append(self, text: str) -> None:
        with self._log_lock:
            self._log.append(text)

    # The container -----------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._run()
        except Exception as error:  # a kubelet bug must not leave the pod hanging
            self.note(f"internal error: {error!r}")
            self._terminated(128, "StartError", str(error))
        finally:
            self.finished_monotonic = time.monotonic()
            self.finished.set()
            self._done(self)

    def _run(self) -> None:
        waiting_reported = None
        while True:
            if self._stop.is_set():
                self._terminated(None, "ContainerStatusUnknown", "stopped before it started")
                return
            try:
                argv, env = self._prepare()
                break
            except ContainerConfigError as error:
                if waiting_reported != str(error):
                    waiting_reported = str(error)
                    self.note(f"CreateContainerConfigError: {error}")
                    self._report(self, self._waiting("CreateContainerConfigError", str(error)))
                self._stop.wait(0.1)
            except OSError as error:
                self.note(f"StartError: {error}")
                self._terminated(128, "StartError", str(error))
                return
        try:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            self.note(f"StartError: {error}")
            self._terminated(128, "StartError", str(error))
            return
        self.pid = process.pid
        self.started_at = _now()
        self.phase = "Running"
        reader = threading.Thread(
            target=self._read, args=(process,), name=f"log-{self.name}", daemon=True
        )
        reader.start()
        self._report(self, self._running())
        code = self._wait(process)
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        if self.stop_reason is not None and code in (128 + signal.SIGTERM, 128 + signal.SIGKILL):
            self.note(f"stopped ({self.stop_reason}), exit code {code}")
        self._terminated(code, "Completed" if code == 0 else "Error", None)

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = process.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._append(decoder.decode(chunk))
        tail = decoder.decode(b"", final=True)
        if tail:
            self._append(tail)

    def _wait(self, process: subprocess.Popen[bytes]) -> int:
        """Wait for the process (stopping it when asked); kill what is left of its group
        while the leader is still a zombie (so its pid cannot have been reused); reap."""
        pid = process.pid
        kill_at: float | None = None
        while True:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                break
            if self._stop.is_set():
                if kill_at is None:
                    _signal_group(pid, signal.SIGTERM)
                    kill_at = time.monotonic() + self.grace_period
                elif time.monotonic() >= kill_at:
                    _signal_group(pid, signal.SIGKILL)
                    kill_at = float("inf")
            time.sleep(POLL)
        _signal_group(pid, signal.SIGKILL)
        code = process.wait()
        return 128 - code if code < 0 else code

    # Status ------------------------------------------------------------------------

    def _terminated(self, code: int | None, reason: str, message: str | None) -> None:
        self.exit_code = code
        self.reason = reason
        self.phase = "Succeeded" if code == 0 else "Failed"
        self.finished_at = _now()
        terminated: JsonObject = {
            "exitCode": 137 if code is None else code,
            "reason": reason,
            "startedAt": self.started_at or self.finished_at,
            "finishedAt": self.finished_at,
        }
        if message:
            terminated["message"] = message
        if self.pid is not None:
            terminated["containerID"] = f"local://{self.pid}"
        self._report(self, self._status({"terminated": terminated}, ready=False))

    def _running(self) -> JsonObject:
        return self._status({"running": {"startedAt": self.started_at}}, ready=True)

    def _waiting(self, reason: str, message: str) -> JsonObject:
        status = self._status({"waiting": {"reason": reason, "message": message}}, ready=False)
        status["phase"] = "Pending"
        return status

    def _status(self, state: JsonObject, ready: bool) -> JsonObject:
        stamp = _now()
        done_reason = "PodCompleted" if self.phase in ("Succeeded", "Failed") else None
        ready_condition: JsonObject = {
            "status": "True" if ready else "False",
            "lastTransitionTime": stamp,
        }
        if not ready:
            ready_condition["reason"] = done_reason or "ContainersNotReady"
        container_status: JsonObject = {
            "name": self.container.get("name", ""),
            "image": self.container.get("image", ""),
            "imageID": "",
            "ready": ready,
            "started": ready,
            "restartCount": 0,
            "state": state,
        }
        if self.pid is not None:
            container_status["containerID"] = f"local://{self.pid}"
        return {
            "phase": self.phase,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "startTime": self.started_at or stamp,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
                {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
                {"type": "ContainersReady", **ready_condition},
                {"type": "Ready", **ready_condition},
            ],
            "containerStatuses": [container_status],
        }


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
