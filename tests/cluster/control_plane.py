"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler.

The binaries come from ``scripts/build-control-plane.sh`` (built from their Go modules,
cached by version; see ``scripts/control-plane.md``). :class:`ControlPlane` starts them in
a temporary directory on free 127.0.0.1 ports, as a real cluster is configured where it
matters to this project:

- etcd with ``--unsafe-no-fsync`` (a throwaway data dir; durability is not under test);
- kube-apiserver with ``--authorization-mode=Node,RBAC``, a static token file (an admin in
  ``system:masters`` and the controller manager's own user), service-account token signing
  with an RSA key made here with ``cryptography``, TLS from a CA made here, and the default
  admission plugins plus ``NodeRestriction`` (what kubeadm enables); an audit log of the
  requests naming a BookkeepingJob (:data:`AUDIT_POLICY`, :meth:`ControlPlane.audit_events`);
- kube-controller-manager as ``system:kube-controller-manager`` with one ServiceAccount per
  controller (``--use-service-account-credentials``) running the controllers in
  :data:`CONTROLLERS`;
- kube-scheduler as ``system:kube-scheduler`` (the default profile), binding Pods to Nodes.

No kubelet runs here: ``node_agent.py`` is the node (it registers as ``system:node:<name>``
with :attr:`ControlPlane.node_token`, a token of the static token file in the group
``system:nodes``, so the Node authorizer and ``NodeRestriction`` treat it as a kubelet).

Every process runs in its own process group, dies with its parent (``PR_SET_PDEATHSIG``),
and is stopped by :meth:`ControlPlane.stop`, which an ``atexit`` hook also calls, so a
failing or interrupted test session leaves nothing running.

``python -m tests.cluster.control_plane`` (``make cluster-up``) runs one in the foreground
until Ctrl-C.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from bookkeeper_jobs.resource import GROUP, PLURAL

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-control-plane.sh"
BUILD_TIMEOUT = 45 * 60  # a cold build takes about 6 minutes on 2 cores
START_TIMEOUT = 90.0

CONTROLLERS = (
    # the ones issue 12 names
    "job-controller",
    "garbage-collector-controller",
    "ttl-after-finished-controller",
    "replicaset-controller",
    "deployment-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    # what namespaces and pods need to behave as in a cluster
    "namespace-controller",
    "root-ca-certificate-publisher-controller",
    "pod-garbage-collector-controller",
    "clusterrole-aggregation-controller",
    # removes the not-ready taint the TaintNodesByCondition admission plugin puts on a new
    # Node once it reports Ready (and watches the node agent's Lease)
    "node-lifecycle-controller",
    # binds the PersistentVolumeClaims of helm-installed charts to PVs a test makes
    "persistentvolume-binder-controller",
)
NODE_NAME = "bkjobs-node"
AUDIT_POLICY: dict[str, Any] = {
    # https://kubernetes.io/docs/tasks/debug/cluster/audit/: every request that names a
    # BookkeepingJob (or its status), at Metadata level (who, verb, object; no bodies), when it
    # is received. The log backend's default mode is blocking, so a request's event is in the
    # file before the request is served: a test reads which requests reached the server.
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["ResponseStarted", "ResponseComplete", "Panic"],
    "rules": [
        {
            "level": "Metadata",
            "resources": [{"group": GROUP, "resources": [PLURAL, f"{PLURAL}/*"]}],
        },
        {"level": "None"},
    ],
}
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/12"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


class ControlPlaneUnavailable(RuntimeError):
    """The binaries cannot be had (no Go toolchain, the build failed)."""


class ControlPlaneError(RuntimeError):
    """A component did not start or become ready (the message ends with its log)."""


def build_binaries() -> Path:
    """The directory holding the binaries: the last line ``build-control-plane.sh`` prints.

    A no-op that takes milliseconds when they are built; a cold build takes minutes."""
    try:
        done = subprocess.run(
            [str(BUILD_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ControlPlaneUnavailable(f"{BUILD_SCRIPT.name} could not run: {exc}") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise ControlPlaneUnavailable(
            f"{BUILD_SCRIPT.name} exited {done.returncode} (is the Go toolchain installed?):\n"
            f"{tail}"
        )
    bin_dir = Path(lines[-1])
    missing = [
        name
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
        if not os.access(bin_dir / name, os.X_OK)
    ]
    if missing:
        raise ControlPlaneUnavailable(f"{bin_dir} lacks {', '.join(missing)}")
    return bin_dir


# ----------------------------------------------------------------------------------------
# processes


_LIVE: set[ControlPlane] = set()


@atexit.register
def _stop_all() -> None:
    for plane in list(_LIVE):
        plane.stop()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class _Component:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # Whatever is left of the group (the leader or anything it started) is killed.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.log.close()


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


# ----------------------------------------------------------------------------------------
# keys and certificates (cryptography, no openssl)


def _pem_key(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        ).add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        names: list[x509.GeneralName] = [x509.DNSName(host) for host in dns]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass(frozen=True)
class _Pki:
    ca: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_pub: Path


def _make_pki(directory: Path) -> _Pki:
    directory.mkdir(mode=0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("bookkeeper-jobs test cluster CA", ca_key, None)
    serving_key = ec.generate_private_key(ec.SECP256R1())
    service_ip = str(next(ipaddress.ip_network(SERVICE_CLUSTER_IP_RANGE).hosts()))
    serving = _certificate(
        "kube-apiserver",
        serving_key,
        (ca, ca_key),
        dns=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
        ips=("127.0.0.1", service_ip),
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pki = _Pki(
        ca=directory / "ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.serving_cert.write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    pki.serving_key.write_bytes(_pem_key(serving_key))
    pki.sa_key.write_bytes(_pem_key(sa_key))
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for path in (pki.serving_key, pki.sa_key):
        path.chmod(0o600)
    return pki


# ----------------------------------------------------------------------------------------
# the control plane


@dataclass(eq=False)
class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1 (see
    the module doc).

    After :meth:`start`: ``url``, ``admin_token``, ``ca_path``, ``kubeconfig`` (the
    admin's) and ``node_token`` (``system:node:<node_name>`` in ``system:nodes``, for the
    node agent). :meth:`stop` is idempotent and removes the temporary directory."""

    bin_dir: Path
    startup_seconds: float = 0.0
    url: str = ""
    etcd_url: str = ""
    admin_token: str = ""
    node_name: str = NODE_NAME
    node_token: str = ""
    workdir: Path = field(default_factory=lambda: Path())
    _components: list[_Component] = field(default_factory=list)
    _pki: _Pki | None = None

    @property
    def ca_path(self) -> Path:
        assert self._pki is not None, "not started"
        return self._pki.ca

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (:data:`AUDIT_POLICY`), one JSON event a line."""
        return self.workdir / "audit.log"

    def audit_events(self) -> list[dict[str, Any]]:
        """Every event of the audit log so far, oldest first."""
        return _audit_events(self.audit_log)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        began = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix="bkjobs-cluster-"))
        _LIVE.add(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _start(self) -> None:
        etcd_client, etcd_peer, apiserver_port, kcm_port, scheduler_port = _free_ports(5)
        self._pki = pki = _make_pki(self.workdir / "pki")
        self.admin_token = secrets.token_hex(24)
        kcm_token = secrets.token_hex(24)
        scheduler_token = secrets.token_hex(24)
        self.node_token = secrets.token_hex(24)
        tokens = self.workdir / "tokens.csv"
        # token,user,uid,"group1,group2" (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#static-token-file)
        tokens.write_text(
            f'{self.admin_token},admin,admin-uid,"system:masters"\n'
            f"{kcm_token},system:kube-controller-manager,kcm-uid\n"
            f"{scheduler_token},system:kube-scheduler,scheduler-uid\n"
            f'{self.node_token},system:node:{self.node_name},node-uid,"system:nodes"\n'
        )
        tokens.chmod(0o600)
        self.url = f"https://127.0.0.1:{apiserver_port}"

        audit_policy = self.workdir / "audit-policy.yaml"
        audit_policy.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
        etcd_url = self.etcd_url = f"http://127.0.0.1:{etcd_client}"
        peer_url = f"http://127.0.0.1:{etcd_peer}"
        etcd = self._spawn(
            "etcd",
            [
                "--name=bkjobs",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=bkjobs={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait(etcd, lambda: _get(f"{etcd_url}/health") == 200, what="/health")

        apiserver = self._spawn(
            "kube-apiserver", self._apiserver_args(apiserver_port, self.audit_log)
        )
        self._wait(
            apiserver,
            lambda: _get(f"{self.url}/readyz", token=self.admin_token, ca=pki.ca) == 200,
            what="/readyz",
        )
        self.write_kubeconfig(self.kubeconfig, self.admin_token, user="admin")
        kcm_kubeconfig = self.write_kubeconfig(
            self.workdir / "kcm.kubeconfig", kcm_token, user="system:kube-controller-manager"
        )

        kcm = self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={kcm_kubeconfig}",
                f"--authentication-kubeconfig={kcm_kubeconfig}",
                f"--authorization-kubeconfig={kcm_kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--cert-dir={self.workdir / 'kcm-pki'}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca}",
                f"--controllers={','.join(CONTROLLERS)}",
                "--profiling=false",
            ],
        )
        self._wait(
            kcm,
            lambda: _get(f"https://127.0.0.1:{kcm_port}/healthz", ca=None) == 200,
            what="/healthz",
        )
        scheduler_kubeconfig = self.write_kubeconfig(
            self.workdir / "scheduler.kubeconfig", scheduler_token, user="system:kube-scheduler"
        )
        scheduler = self._spawn(
            "kube-scheduler",
            [
                f"--kubeconfig={scheduler_kubeconfig}",
                f"--authentication-kubeconfig={scheduler_kubeconfig}",
                f"--authorization-kubeconfig={scheduler_kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={scheduler_port}",
                f"--cert-dir={self.workdir / 'scheduler-pki'}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        self._wait(
            scheduler,
            lambda: _get(f"https://127.0.0.1:{scheduler_port}/healthz", ca=None) == 200,
            what="/healthz",
        )
        # The serviceaccount controller at work: every namespace gets its "default" account.
        self._wait(
            kcm,
            lambda: (
                self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200
            ),
            what="the default ServiceAccount",
        )

    def extra_api_server(self, name: str = "kube-apiserver-2") -> ApiServer:
        """Another kube-apiserver on this plane's etcd, as a highly available cluster runs
        several: same flags, tokens and keys, its own port and audit log. A test may stop and
        start it (a client's API server restarted under it) without disturbing the rest of
        the session, which talks to :attr:`url`. Stopped with the plane at the latest."""
        (port,) = _free_ports(1)
        return ApiServer(self, name, port, self.workdir / f"{name}-audit.log").start()

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (what the API server itself
        does every 5 minutes, https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/
        ``--etcd-compaction-interval``): a watch from an older resourceVersion that the API
        server's own watch cache cannot serve is answered ``410 Gone``. Through etcd's JSON
        gateway (``/v3/kv/range``, ``/v3/kv/compaction``); returns the revision."""
        probe = {"key": base64.b64encode(b"/registry").decode()}
        revision = int(_etcd_call(self.etcd_url, "range", probe)["header"]["revision"])
        _etcd_call(self.etcd_url, "compaction", {"revision": revision, "physical": True})
        return revision

    def _apiserver_args(self, port: int, audit_log: Path) -> list[str]:
        pki = self._pki
        assert pki is not None, "not started"
        return [
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            "--advertise-address=127.0.0.1",
            # the only reconciler that accepts a loopback advertise address
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca}",
            # the front-proxy settings kubeadm gives (nobody here holds such a client
            # certificate; without them the controller manager logs an error a second)
            f"--requestheader-client-ca-file={pki.ca}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            # the defaults stay on (NamespaceLifecycle, LimitRanger, ServiceAccount,
            # PodSecurity, ResourceQuota, the admission webhooks and policies, ...);
            # kubeadm adds NodeRestriction; OpenShift runs OwnerReferencesPermission-
            # Enforcement (blockOwnerDeletion needs update on the owner's finalizers)
            "--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement",
            "--allow-privileged=true",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--profiling=false",
            f"--audit-policy-file={self.workdir / 'audit-policy.yaml'}",
            f"--audit-log-path={audit_log}",
            "--audit-log-mode=blocking",
        ]

    def _spawn(self, name: str, args: list[str], *, binary: str | None = None) -> _Component:
        log_path = self.workdir / f"{name}.log"
        log = log_path.open("ab")
        try:
            process = subprocess.Popen(
                [str(self.bin_dir / (binary or name)), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # its own process group, killed as one
                preexec_fn=_die_with_parent,  # SIGKILLed if this process dies without stop()
            )
        except BaseException:
            log.close()
            raise
        component = _Component(name, process, log_path, log)
        self._components.append(component)
        return component

    def _wait(self, component: _Component, ready: Any, *, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if component.process.poll() is not None:
                raise ControlPlaneError(
                    f"{component.name} exited {component.process.returncode} before {what} "
                    f"was ready; its log ({component.log_path}):\n{component.log_tail()}"
                )
            with contextlib.suppress(OSError):
                if ready():
                    return
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"{component.name}: {what} not ready after {START_TIMEOUT:g} s; its log:\n"
                    f"{component.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop every component (controller manager, API server, etcd) and remove the
        temporary directory. Safe to call more than once."""
        while self._components:
            self._components.pop().stop()
        _LIVE.discard(self)
        if self.workdir != Path() and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)

    def pids(self) -> list[int]:
        return [component.process.pid for component in self._components]

    def write_kubeconfig(
        self, path: Path, token: str, *, user: str = "user", server: str | None = None
    ) -> Path:
        """A kubeconfig for this API server (or ``server``, another of this plane's) with a
        bearer ``token`` (the CA inline)."""
        assert self._pki is not None, "not started"
        ca_data = base64.b64encode(self._pki.ca.read_bytes()).decode()
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "bkjobs-test",
                    "cluster": {
                        "server": server or self.url,
                        "certificate-authority-data": ca_data,
                    },
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": user, "context": {"cluster": "bkjobs-test", "user": user}}],
            "current-context": user,
        }
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        path.chmod(0o600)
        return path

    def request(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        """One raw request as the admin (or ``token``): the status and the parsed body (a
        ``PATCH`` is a JSON merge patch)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.admin_token}")
        if data is not None:
            kind = "merge-patch+json" if method == "PATCH" else "json"
            req.add_header("Content-Type", f"application/{kind}")
        try:
            with urllib.request.urlopen(req, timeout=10, context=self._ssl()) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))


@dataclass
class ApiServer:
    """Another kube-apiserver of a :class:`ControlPlane` (``extra_api_server``)."""

    plane: ControlPlane
    name: str
    port: int
    audit_log: Path
    _component: _Component | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        """Start it (again, on the same port) and wait for its ``/readyz``."""
        assert self._component is None, "already running"
        component = self.plane._spawn(
            self.name,
            self.plane._apiserver_args(self.port, self.audit_log),
            binary="kube-apiserver",
        )
        self._component = component
        self.plane._wait(
            component,
            lambda: (
                _get(f"{self.url}/readyz", token=self.plane.admin_token, ca=self.plane.ca_path)
                == 200
            ),
            what="/readyz",
        )
        return self

    def stop(self) -> None:
        """Stop it (SIGTERM, as a rolling restart does): its clients' connections end."""
        if self._component is not None:
            self._component.stop()
            with contextlib.suppress(ValueError):
                self.plane._components.remove(self._component)
            self._component = None

    def write_kubeconfig(self, path: Path, token: str) -> Path:
        return self.plane.write_kubeconfig(path, token, server=self.url)

    def audit_events(self) -> list[dict[str, Any]]:
        """Its audit log's events so far (:data:`AUDIT_POLICY`), oldest first."""
        return _audit_events(self.audit_log)


def _audit_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    # the last piece is "" or a line the server is still writing
    complete = path.read_text().split("\n")[:-1]
    return [json.loads(line) for line in complete if line.strip()]


def _etcd_call(etcd_url: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{etcd_url}/v3/kv/{method}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
    return result


def _get(url: str, *, token: str | None = None, ca: Path | None = None) -> int:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    context: ssl.SSLContext | None = None
    if url.startswith("https:"):
        if ca is None:  # the controller manager's self-signed serving certificate
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(req, timeout=2, context=context) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


# ----------------------------------------------------------------------------------------
# make cluster-up


def main() -> int:
    print("cluster-up: building or reusing the control plane binaries ...", flush=True)
    try:
        bin_dir = build_binaries()
    except ControlPlaneUnavailable as exc:
        print(f"cluster-up: {exc}", file=sys.stderr)
        return 2
    plane = ControlPlane(bin_dir)
    stop = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        plane.start()
        kubectl = ROOT / ".tools" / "kubectl"
        print(
            f"cluster-up: Kubernetes control plane ready in {plane.startup_seconds:.1f} s at "
            f"{plane.url} (etcd, kube-apiserver, kube-controller-manager, kube-scheduler "
            f"from {bin_dir})\n"
            f"  kubeconfig (admin): {plane.kubeconfig}\n"
            f"  logs:               {plane.workdir}/*.log\n"
            f"  use it:             export KUBECONFIG={plane.kubeconfig}\n"
            f"                      {kubectl} get namespaces      (make tools installs it)\n"
            f"                      {kubectl} apply -f crds/bookkeepingjobs.yaml\n"
            "  No kubelet: Pods are scheduled but never run (tests/cluster/node_agent.py runs\n"
            f"  them; its token, system:node:{plane.node_name}, is in "
            f"{plane.workdir}/tokens.csv).\n"
            "  Ctrl-C stops everything and deletes the directory.",
            flush=True,
        )
        while not stop:
            for component in plane._components:
                if component.process.poll() is not None:
                    print(
                        f"cluster-up: {component.name} exited {component.process.returncode}:\n"
                        f"{component.log_tail()}",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except ControlPlaneError as exc:
        print(f"cluster-up: {exc}", file=sys.stderr)
        return 1
    finally:
        print("cluster-up: stopping", flush=True)
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
