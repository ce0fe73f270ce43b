"""The one settings object: environment (prefix ``BKJOBS_``) → :class:`Settings` → passed down.

Nothing else reads the environment. Build it once at startup with :func:`load_settings`
and hand it to whatever needs it.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import textwrap
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev-secret"})
MIN_SECRET_CHARS = 32
QBO_DISCOVERY_URLS = {
    "sandbox": "https://developer.intuit.com/.well-known/openid_sandbox_configuration/",
    "production": "https://developer.intuit.com/.well-known/openid_configuration/",
}
QBO_API_URLS = {
    "sandbox": "https://sandbox-quickbooks.api.intuit.com/v3",
    "production": "https://quickbooks.api.intuit.com/v3",
}


class Grant(BaseModel):
    """What one API key may touch: a tenant and the companies of that tenant."""

    tenant_id: str = Field(min_length=1)
    company_ids: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BKJOBS_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    """Placeholder secrets are refused unless this is ``development`` or ``test``."""

    data_dir: Path = Path("var")
    """Where the embedded job store, the ledger (by default) and uploaded files live."""

    database_url: str = ""
    """The ledger's SQLAlchemy URL. Empty means SQLite at ``<data_dir>/ledger.db``."""

    jobs_database_path: Path | None = None
    """The embedded job store (SQLite, WAL). Empty means ``<data_dir>/jobs.db``."""

    worker_concurrency: int = Field(default=2, ge=1, le=64)
    """Worker processes started by ``bkjobs serve``; one job runs per worker at a time."""

    task_process_max_attempts: int = Field(default=100, ge=1)
    """Attempts an embedded worker's task process runs before a fresh one replaces it. A
    worker keeps its task process warm between jobs (no process start per job); one that was
    stopped (cancel, timeout) or crashed is always replaced. 1: a fresh process per attempt."""

    task_process_max_memory_mb: int = Field(default=1024, ge=64)
    """An embedded task process whose peak memory (RSS) passed this many MiB is replaced
    after its attempt, so one large job does not keep a worker's memory high."""

    job_timeout: float = Field(default=600.0, gt=0)
    """Seconds one attempt may run before it is stopped and the job fails (the seed's 600)."""

    job_ttl: float = Field(default=24 * 3600.0, gt=0)
    """Seconds a finished job (and its uploaded file) is kept before the sweep deletes it."""

    job_max_attempts: int = Field(default=3, ge=1, le=20)
    """Attempts per job for retryable errors and worker crashes, the first one included."""

    retry_backoff: float = Field(default=2.0, ge=0)
    """Seconds before the first retry; doubles for every further attempt."""

    retry_backoff_max: float = Field(default=300.0, ge=0)
    """Upper bound on one backoff delay, in seconds."""

    migrate_on_start: bool = True
    """Run the ledger's migrations when the embedded server starts (tried again every few
    seconds while the database is down; ``/readyz`` is 503 until they ran). Set false where
    ``bkjobs migrate`` runs as its own step, as production deployments should."""

    job_max_outage_attempts: int = Field(default=10, ge=1, le=100)
    """Attempts per job while a service it needs is down (the ledger database unreachable):
    with waits of at most ``retry_outage_backoff_max`` s, 10 ride out about three minutes
    of outage instead of failing every running job within seconds."""

    retry_outage_backoff_max: float = Field(default=30.0, ge=0)
    """Upper bound on one backoff delay after an outage error, in seconds."""

    lease_seconds: float = Field(default=15.0, gt=0)
    """A running job whose worker has not renewed its lease for this long is recovered.
    Workers renew every second, so 15 s tolerates a stalled but living process."""

    sweep_interval: float = Field(default=300.0, gt=0)
    """Seconds between TTL sweeps while the server runs."""

    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    """Largest accepted upload (20 MiB by default, about 300,000 statement rows)."""

    access_log: bool = False
    """A line per request on the server's log (uvicorn's access log). Off by default: status
    polls are most of the requests, and the line cost 41% of their rate in the side-by-side
    benchmark (``bench/README.md``); ``/metrics`` counts every response by method and status instead
    (``bkjobs_http_responses_total``), and errors are logged either way."""

    artifacts_backend: Literal["directory", "s3"] = "directory"
    """Where uploads, receipt files, export files, error reports and cached models are kept:
    ``directory`` (``<data_dir>/artifacts``; a ReadWriteMany volume in a cluster) or ``s3``
    (an S3-compatible bucket: no shared volume needed)."""

    s3_bucket: str = ""
    """The artifact bucket (``s3`` backend; required there). Credentials come from boto3's
    default chain: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, IRSA or EKS Pod
    Identity, an instance profile."""

    s3_prefix: str = ""
    """Key prefix of every artifact in the bucket (e.g. ``prod/``), so environments can
    share one bucket."""

    s3_endpoint_url: str = ""
    """The S3 API endpoint for S3-compatible stores (MinIO, Ceph, R2, ...). Empty: AWS S3."""

    s3_region: str = ""
    """The bucket's region. Empty: boto3's default (``AWS_REGION``, the profile)."""

    s3_sse: Literal["none", "AES256", "aws:kms"] = "none"
    """Server-side encryption requested for every object written (the bucket's default
    encryption applies either way)."""

    s3_sse_kms_key_id: str = ""
    """The KMS key of ``aws:kms`` encryption. Empty: the account's ``aws/s3`` key."""

    s3_presign_seconds: int = Field(default=0, ge=0, le=3600)
    """0: the API streams downloads (receipt files, export files, error reports) from the
    bucket. More: it authorises the request, then redirects (307) to a presigned URL valid
    that many seconds; only when clients can reach the bucket's endpoint."""

    api_keys: dict[str, Grant] = Field(default_factory=dict)
    """Static API keys: ``{"<key>": {"tenant_id": "t1", "company_ids": ["c1"]}}``."""

    jwt_secret: SecretStr | None = None
    """HS256 secret for bearer JWTs. Claims: ``tenant_id`` and ``company_ids``."""

    jwt_public_key: str | None = None
    """PEM public key for RS256 bearer JWTs (alternative or addition to the secret)."""

    jwt_audience: str | None = None
    """If set, JWTs must carry this ``aud``."""

    job_store: Literal["local", "kubernetes"] = "local"
    """``local``: the embedded SQLite store and worker processes. ``kubernetes``: one
    BookkeepingJob resource per job, run by the operator (cluster mode)."""

    kubernetes_namespace: str = "default"
    """The namespace of the BookkeepingJob resources (the chart sets the pod's own)."""

    operator_cluster_wide: bool = False
    """Whether the operator watches every namespace instead of its own."""

    operator_peering: str = ""
    """kopf peering name so only one operator replica acts; empty runs standalone."""

    operator_priority: int | None = None
    """kopf peering priority of this operator: the live peer with the highest one acts, the
    others pause (equal priorities pause all). None draws a random one per process."""

    operator_health_port: int = Field(default=8080, ge=1, le=65535)
    """Port of the operator's liveness endpoint."""

    operator_metrics_port: int = Field(default=9090, ge=1, le=65535)
    """Port of the operator's Prometheus `/metrics` (jobs created and finished, queue and
    run durations, retries, task Jobs running or waiting)."""

    task_template: dict[str, Any] = Field(default_factory=dict)
    """How the operator builds task Jobs (a JobTemplateConfig as JSON: image, service
    account, resources, defaults for backoffLimit, activeDeadlineSeconds, TTL)."""

    tasks: dict[str, str] = Field(default_factory=dict)
    """Override the task function of a job type (``{"categorize": "pkg.module:function"}``),
    for custom deployments and tests; the defaults are each job type's registration."""

    secrets_key: SecretStr | None = None
    """Encrypts stored credentials (QuickBooks tokens) at rest: a random string of at least
    32 characters, the same for the API, the workers and the task pods. `production`
    refuses to start without one; elsewhere credentials cannot be stored without it."""

    qbo_client_id: str = ""
    """The QuickBooks Online app's client id, for the Connect flow (`.../quickbooks/connect`).
    Empty: companies can still be connected with their own credentials (PUT)."""

    qbo_client_secret: SecretStr | None = None
    """The QuickBooks Online app's client secret, for the Connect flow."""

    qbo_redirect_uri: str = ""
    """Where Intuit sends the user back after consent: this API's `/api/quickbooks/callback`
    as the app's settings at Intuit name it (https in production)."""

    qbo_discovery_urls: dict[str, str] = Field(default_factory=lambda: dict(QBO_DISCOVERY_URLS))
    """Intuit's OpenID discovery document per environment (`sandbox`, `production`): where
    the OAuth endpoints are found. Intuit's own by default; tests point them elsewhere."""

    qbo_api_urls: dict[str, str] = Field(default_factory=lambda: dict(QBO_API_URLS))
    """The QuickBooks Online Accounting API base (ending in `/v3`) per environment."""

    qbo_minor_version: int = Field(default=75, ge=75)
    """The Accounting API minor version requested (75 is the oldest Intuit still serves)."""

    qbo_state_ttl: float = Field(default=600.0, gt=0)
    """Seconds a Connect flow's `state` stays valid (it is also single use)."""

    max_running_jobs: int = Field(default=50, ge=1)
    """Cluster mode: task Jobs of the namespace running at once; more wait suspended and
    start as others finish (a burst must not exhaust the database's connections)."""

    max_running_jobs_per_tenant: int = Field(default=20, ge=1)
    """Jobs of one tenant running at once (task Jobs in cluster mode, workers in embedded
    mode). Waiting jobs start fair across tenants: the tenant running the fewest first."""

    job_type_priorities: dict[str, int] = Field(default_factory=dict)
    """Start order among one tenant's waiting jobs, higher first; a type not named is 0
    (`{"ocr": 10}`: a receipt a user is looking at before a month's export). Fairness
    across tenants comes first (see above)."""

    kueue_queue_name: str = ""
    """Cluster mode: a Kueue LocalQueue; Jobs are then created suspended with its
    `kueue.x-k8s.io/queue-name` label and Kueue admits them by quota (the two limits above
    do not apply). Empty: no Kueue."""

    job_type_modules: list[str] = Field(default_factory=list)
    """Modules that register more job types (``["mycompany.jobs.reconcile"]``), imported at
    start-up by the API, the workers, the operator and task containers (and by
    ``python -m bookkeeper_jobs.crd``, so the CRD's type enum includes them); see
    ``docs/adding-a-job-type.md``."""

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        if self.jwt_secret is not None and _weak(self.jwt_secret):
            raise ValueError("BKJOBS_JWT_SECRET is a placeholder or shorter than 32 characters")
        weak = [key for key in self.api_keys if key.lower() in PLACEHOLDER_SECRETS or len(key) < 24]
        if weak:
            raise ValueError("BKJOBS_API_KEYS holds a placeholder key or one under 24 characters")
        if self.secrets_key is None:
            raise ValueError(
                "BKJOBS_SECRETS_KEY is not set: production needs it to encrypt stored credentials"
            )
        if _weak(self.secrets_key):
            raise ValueError("BKJOBS_SECRETS_KEY is a placeholder or shorter than 32 characters")
        return self

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Settings:
        if self.artifacts_backend == "s3" and not self.s3_bucket:
            raise ValueError("BKJOBS_ARTIFACTS_BACKEND=s3 needs BKJOBS_S3_BUCKET")
        if self.s3_sse_kms_key_id and self.s3_sse != "aws:kms":
            raise ValueError("BKJOBS_S3_SSE_KMS_KEY_ID is set but BKJOBS_S3_SSE is not aws:kms")
        return self

    @property
    def ledger_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ledger.db'}"

    @property
    def jobs_db(self) -> Path:
        return self.jobs_database_path or self.data_dir / "jobs.db"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"


def _weak(secret: SecretStr) -> bool:
    value = secret.get_secret_value()
    return value.lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_CHARS


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; keyword overrides win (used by the CLI flags and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]


class ClientSettings(BaseSettings):
    """What the ``bkjobs`` client commands need to reach a running API."""

    model_config = SettingsConfigDict(env_prefix="BKJOBS_", extra="ignore")

    url: str = "http://127.0.0.1:8000"
    """The API's base URL."""

    api_key: SecretStr | None = None
    """The bearer token (API key or JWT) the client sends."""

    job_type_modules: list[str] = Field(default_factory=list)
    """As the server's: modules registering more job types, so ``bkjobs submit`` knows them."""


def settings_table(model: type[BaseSettings] = Settings) -> str:
    """The README's configuration table: one row per field of ``model`` with its variable,
    default and docstring, so the documentation cannot leave a setting out
    (``python -m bookkeeper_jobs.settings`` prints it; a unit test keeps the README equal)."""
    prefix = str(model.model_config.get("env_prefix", ""))
    docstrings = field_docstrings(model)
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        meaning = " ".join([docstrings.get(name, ""), *_allowed_values(field)]).strip()
        rows.append(f"| `{prefix}{name.upper()}` | {_default_text(field)} | {_markdown(meaning)} |")
    return "\n".join(rows)


def field_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The docstring under each field of ``model``'s class body (pydantic keeps them only
    with ``use_attribute_docstrings``, which would also change the JSON schema)."""
    (class_def,) = ast.parse(textwrap.dedent(inspect.getsource(model))).body
    assert isinstance(class_def, ast.ClassDef)
    found: dict[str, str] = {}
    for statement, following in itertools.pairwise(class_def.body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[statement.target.id] = " ".join(following.value.value.split())
    return found


def _default_text(field: FieldInfo) -> str:
    default = field.get_default(call_default_factory=True)
    if default is None:
        return "unset"
    if default == "":
        return "empty"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    if isinstance(default, dict | list):
        return f"`{json.dumps(default)}`"
    return f"`{default}`"


def _allowed_values(field: FieldInfo) -> list[str]:
    """What the field's type and bounds allow, for the reader who sets it."""
    if get_origin(field.annotation) is Literal:
        choices = ", ".join(f"`{choice}`" for choice in get_args(field.annotation))
        return [f"One of {choices}."]
    bounds = {
        "gt": "more than",
        "ge": "at least",
        "lt": "less than",
        "le": "at most",
    }
    limits = [
        f"{words} {getattr(rule, key)}"
        for rule in field.metadata
        for key, words in bounds.items()
        if getattr(rule, key, None) is not None
    ]
    return [f"Allowed: {', '.join(limits)}."] if limits else []


def _markdown(text: str) -> str:
    # Docstrings use reStructuredText's double backticks; a pipe would end the table cell.
    return text.replace("``", "`").replace("|", "\\|")


if __name__ == "__main__":
    print(settings_table())
