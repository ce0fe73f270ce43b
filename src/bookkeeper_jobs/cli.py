"""``bkjobs``: serve the embedded mode, and submit, follow, list and clean up jobs.

Exit status: 0 when the command did its work; 1 when ``watch`` or ``submit --follow`` saw
the job end without completing; 2 when the command could not do its work (bad usage or
configuration, the API refused or could not be reached, the data dir or port of ``serve`` is
taken), with one line on stderr saying why; 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import itertools
import json
import os
import re
import shlex
import socket
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from bookkeeper_jobs.client import ApiConnectionError, JobsClient
from bookkeeper_jobs.errors import ApiError, BookkeeperJobsError
from bookkeeper_jobs.instance_lock import InstanceConflictError, bound_socket, data_dir_lock
from bookkeeper_jobs.jobs import UPLOAD_AND_CATEGORIZE, job_types, load_job_type_modules
from bookkeeper_jobs.settings import ClientSettings, Settings, load_settings
from bookkeeper_jobs.terminal import untrusted, visible

if TYPE_CHECKING:
    import uvicorn

console = Console(stderr=True, soft_wrap=True)
FAILED_EXIT = 1
"""``watch`` / ``submit --follow``: the job ended failed or cancelled."""
ERROR_EXIT = 2
"""The command could not do its work; one line on stderr says why."""
STARTUP_FAILED_EXIT = 3
"""``serve``: the app failed while starting up (uvicorn's own code for it)."""
BROKEN_PIPE_EXIT = 141
"""128 + SIGPIPE, as a shell reports a command whose output pipe closed."""
INTERRUPTED_EXIT = 130
"""Ctrl-C, as shells report a command killed by SIGINT."""
TERMINAL_STATUSES = frozenset({"complete", "failed", "cancelled"})
DEFAULT_LIST_LIMIT = 20
ENV_PREFIX = str(Settings.model_config.get("env_prefix", "BKJOBS_"))

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class UsageError(BookkeeperJobsError):
    """A command line that cannot work; the message says what to change."""


class ConfigurationError(BookkeeperJobsError):
    """A setting (environment variable or flag) that does not validate; the message names it."""


EXPECTED_ERRORS = (
    UsageError,
    ConfigurationError,
    ApiError,
    ApiConnectionError,
    InstanceConflictError,
)
"""What a user can cause and fix: one line, no traceback (anything else is a bug, and its
traceback is what a bug report needs)."""


def main(argv: Sequence[str] | None = None) -> int:
    try:
        client_settings = checked_settings(ClientSettings)
        load_type_modules(client_settings.job_type_modules)
        args = build_parser().parse_args(argv)
        result: int = args.handler(args)
    except EXPECTED_ERRORS as exc:
        report_error(str(exc))
        return ERROR_EXIT
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return BROKEN_PIPE_EXIT
    return result


def report_error(message: str) -> None:
    console.print(Text.assemble(("error:", "bold red"), " ", visible(message)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bkjobs", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API with embedded workers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=port_number, default=8000)
    serve.add_argument("--data-dir", type=Path, help="default: BKJOBS_DATA_DIR or ./var")
    serve.add_argument("--workers", type=int, help="default: BKJOBS_WORKER_CONCURRENCY or 2")
    serve.add_argument("--demo", action="store_true", help="create a demo company and API key")
    serve.set_defaults(handler=serve_command)

    submit = commands.add_parser("submit", help="start a job on a running server")
    submit.add_argument("type", choices=[info.name for info in job_types()])
    submit.add_argument("--company", required=True, help="company_id")
    submit.add_argument("--tenant", required=True, help="tenant_id")
    submit.add_argument("--ids", help="comma-separated transaction ids")
    submit.add_argument("--limit", type=int, help="categorize: how many uncategorized")
    submit.add_argument("--file", type=Path, help="upload-and-categorize: the statement")
    submit.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other field of the job type's spec (VALUE is JSON, else a string)",
    )
    submit.add_argument("--follow", action="store_true", help="show progress until it ends")
    add_client_options(submit)
    submit.set_defaults(handler=submit_command)

    watch = commands.add_parser("watch", help="show a job's progress until it ends")
    watch.add_argument("job_id")
    add_client_options(watch)
    watch.set_defaults(handler=watch_command)

    cancel = commands.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job_id")
    add_client_options(cancel)
    cancel.set_defaults(handler=cancel_command)

    jobs = commands.add_parser("jobs", help="list jobs").add_subparsers(required=True)
    listing = jobs.add_parser("list", help="a company's jobs, newest first")
    listing.add_argument("--company", required=True)
    listing.add_argument("--limit", type=int, default=DEFAULT_LIST_LIMIT)
    listing.add_argument("--cursor", help="the next page: the cursor an earlier page printed")
    add_client_options(listing)
    listing.set_defaults(handler=list_command)

    cleanup = commands.add_parser("cleanup", help="delete finished jobs older than the TTL")
    cleanup.add_argument("--data-dir", type=Path)
    cleanup.set_defaults(handler=cleanup_command)

    task = commands.add_parser("task", help="run a task in a cluster's task container")
    task_run = task.add_subparsers(required=True).add_parser("run", help="run one job")
    task_run.add_argument("--job", required=True, help="<namespace>/<BookkeepingJob name>")
    task_run.set_defaults(handler=task_run_command)

    operator = commands.add_parser("operator", help="run the cluster-mode operator (kopf)")
    operator_run = operator.add_subparsers(required=True).add_parser(
        "run", help="reconcile BookkeepingJobs until stopped (SIGTERM)"
    )
    operator_run.add_argument(
        "--kubeconfig", type=Path, help="default: in-cluster, else $KUBECONFIG or ~/.kube/config"
    )
    operator_run.add_argument("--verbose", action="store_true", help="debug logging")
    operator_run.set_defaults(handler=operator_run_command)

    migrate = commands.add_parser("migrate", help="bring the ledger schema up to date")
    migrate.add_argument("--data-dir", type=Path)
    migrate.set_defaults(handler=migrate_command)

    receipt = commands.add_parser(
        "receipt", help="upload, show and list receipts on a server; extract reads them locally"
    )
    receipts = receipt.add_subparsers(required=True)
    receipt_extract = receipts.add_parser(
        "extract", help="print each receipt's company, date, total and tax as a JSON line"
    )
    receipt_extract.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    receipt_extract.set_defaults(handler=receipt_extract_command)

    receipt_upload = receipts.add_parser(
        "upload", help="upload a receipt (JPEG, PNG, TIFF or PDF) and print its id"
    )
    receipt_upload.add_argument("file", type=Path, metavar="FILE")
    receipt_upload.add_argument("--company", required=True, help="company_id")
    receipt_upload.add_argument("--tenant", required=True, help="tenant_id")
    receipt_upload.add_argument(
        "--read",
        action="store_true",
        help="then read it with an ocr job, show its progress and print what was read",
    )
    add_client_options(receipt_upload)
    receipt_upload.set_defaults(handler=receipt_upload_command)

    receipt_show = receipts.add_parser("show", help="what OCR read of a receipt, and its match")
    receipt_show.add_argument("receipt_id", metavar="RECEIPT_ID")
    receipt_show.add_argument("--json", action="store_true", help="the receipt as a JSON line")
    receipt_show.add_argument("--text", action="store_true", help="also the full OCR text")
    add_client_options(receipt_show)
    receipt_show.set_defaults(handler=receipt_show_command)

    receipt_list = receipts.add_parser("list", help="a company's receipts, newest first")
    receipt_list.add_argument("--company", required=True)
    receipt_list.add_argument("--limit", type=int, default=DEFAULT_LIST_LIMIT)
    receipt_list.add_argument("--cursor", help="the next page: the cursor an earlier page printed")
    add_client_options(receipt_list)
    receipt_list.set_defaults(handler=receipt_list_command)

    categorizer = commands.add_parser(
        "categorizer", help="the categorization model, locally (no server, no ledger)"
    )
    categorizer_predict = categorizer.add_subparsers(required=True).add_parser(
        "predict",
        help="train the categorize job's model on TRAIN and print "
        "id,category,confidence,decision for every INPUT row",
    )
    categorizer_predict.add_argument(
        "--train",
        required=True,
        type=Path,
        metavar="TRAIN.csv",
        help="columns description, amount, category, optional date (YYYY-MM-DD)",
    )
    categorizer_predict.add_argument(
        "--input",
        required=True,
        type=Path,
        metavar="INPUT.csv",
        help="columns id, description, amount, optional date (YYYY-MM-DD)",
    )
    categorizer_predict.set_defaults(handler=categorizer_predict_command)
    return parser


def port_number(text: str) -> int:
    """argparse type of ``--port``: a TCP port (0 lets the system pick one)."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535)")
    return port


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="API base URL (default: BKJOBS_URL or 127.0.0.1:8000)")
    parser.add_argument("--key", help="API key or JWT (default: BKJOBS_API_KEY)")


def client_from(args: argparse.Namespace) -> JobsClient:
    overrides: dict[str, Any] = {}
    if args.url:
        overrides["url"] = args.url
    if args.key:
        overrides["api_key"] = args.key
    flags = {"url": "--url", "api_key": "--key"}
    return JobsClient(checked_settings(lambda: ClientSettings(**overrides), flags, overrides))


def server_settings(args: argparse.Namespace, **extra: Any) -> Settings:
    """The server's settings: the environment, with the flags the user gave winning."""
    overrides = {key: value for key, value in extra.items() if value is not None}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    flags = {"data_dir": "--data-dir", "worker_concurrency": "--workers"}
    return checked_settings(lambda: load_settings(**overrides), flags, overrides)


def checked_settings(
    build: Callable[[], SettingsT],
    flags: Mapping[str, str] | None = None,
    given: Mapping[str, Any] | None = None,
) -> SettingsT:
    """``build()``, with a setting that does not validate as one ConfigurationError naming
    it: the flag when the user ``given`` one (``flags`` maps fields to flags), else the
    environment variable."""
    named_flags = {field: flag for field, flag in (flags or {}).items() if field in (given or {})}
    try:
        return build()
    except ValidationError as exc:
        raise ConfigurationError(validation_problems(exc, named_flags)) from None
    except SettingsError as exc:
        raise ConfigurationError(unparsable_setting(exc)) from None


def validation_problems(exc: ValidationError, flags: Mapping[str, str]) -> str:
    """``BKJOBS_WORKER_CONCURRENCY: Input should be a valid integer, ...``, one per problem.
    Never the input itself: it may be a secret (a JWT secret, an API key)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        name = setting_name(error["loc"], flags)
        problems.append(f"{name}: {message}" if name else message)
    return "; ".join(problems)


def setting_name(loc: tuple[int | str, ...], flags: Mapping[str, str]) -> str:
    """The variable (or flag) of a pydantic error location, with the path inside its value."""
    if not loc:
        return ""  # a check of the whole model; its message names the variables itself
    field = str(loc[0])
    name = flags.get(field, f"{ENV_PREFIX}{field.upper()}")
    inner = loc[1:]
    if field in MAPPING_FIELDS:
        inner = inner[1:]  # a mapping's keys may be secrets (BKJOBS_API_KEYS): never shown
    path = ".".join(str(part) for part in inner)
    return f"{name} ({path})" if path else name


def unparsable_setting(exc: SettingsError) -> str:
    """pydantic-settings' 'error parsing value for field "api_keys"' as the variable and why
    (the JSON error's position, never the value)."""
    text = str(exc)
    field = re.search(r'field "(\w+)"', text)
    name = f"{ENV_PREFIX}{field.group(1).upper()}" if field else f"a {ENV_PREFIX} setting"
    cause = exc.__cause__
    if isinstance(cause, json.JSONDecodeError):
        return f"{name}: not valid JSON ({cause.msg} at line {cause.lineno} column {cause.colno})"
    return f"{name}: {cause or text}"


def mapping_fields(*models: type[BaseSettings]) -> frozenset[str]:
    return frozenset(
        name
        for model in models
        for name, field in model.model_fields.items()
        if typing.get_origin(field.annotation) is dict
    )


MAPPING_FIELDS = mapping_fields(Settings, ClientSettings)


def load_type_modules(modules: Sequence[str]) -> None:
    """``BKJOBS_JOB_TYPE_MODULES``; a module that does not exist is a configuration error
    (an import error inside one that exists is a bug in it: its traceback shows where)."""
    for module in modules:
        try:
            load_job_type_modules([module])
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            raise ConfigurationError(
                f"{ENV_PREFIX}JOB_TYPE_MODULES: no module named {module!r}"
            ) from None


def serve_command(args: argparse.Namespace) -> int:
    settings = server_settings(args, worker_concurrency=args.workers)
    # In a cluster the API replicas share the artifacts volume as their data dir on purpose;
    # only the embedded mode's worker pool must be alone on its data dir.
    lock: contextlib.AbstractContextManager[None] = (
        data_dir_lock(settings.data_dir)
        if settings.job_store == "local"
        else contextlib.nullcontext()
    )
    # Both taken before the banner, the migrations and the workers, so a second server
    # fails at once with one line and touches nothing.
    with lock, bound_socket(args.host, args.port) as listener:
        return run_server(settings, args, listener)


def run_server(settings: Settings, args: argparse.Namespace, listener: socket.socket) -> int:
    from bookkeeper_jobs.api.app import create_app

    if args.demo:
        port = listener.getsockname()[1]  # --port 0: the port the system picked
        settings = prepare_demo(settings, f"http://{args.host}:{port}")
    server = uvicorn_server(create_app(settings), settings, args.host, args.port)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a server is stopped
        run_until_stopped(server, [listener])
    return 0 if server.started else STARTUP_FAILED_EXIT


def uvicorn_server(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Server:
    """The server ``serve`` runs (uvloop and httptools, as ``uvicorn[standard]`` installs)."""
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", access_log=settings.access_log
    )
    return uvicorn.Server(config)


def run_until_stopped(server: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
    # What is alive now (modules, the app, its models) lives as long as the process: frozen,
    # it is left out of every garbage collection, which then walks only what requests
    # allocated (a submission's CPU -18%, bench/README.md).
    gc.collect()
    gc.freeze()
    server.run(sockets=sockets)


def prepare_demo(settings: Settings, base_url: str) -> Settings:
    from bookkeeper_jobs.demo import ensure_demo, with_demo_key
    from bookkeeper_jobs.ledger import Ledger

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.from_settings(settings)
    try:
        ledger.migrate()
        demo = ensure_demo(settings, ledger)
    finally:
        ledger.dispose()
    console.print(
        f"\n[bold]bookkeeper-jobs[/bold] on {base_url}  (API docs: {base_url}/docs)\n"
        f"demo tenant [cyan]{demo.tenant_id}[/cyan], company [cyan]{demo.company_id}[/cyan]\n"
        f"demo API key: [green]{demo.api_key}[/green]\n\n"
        "Upload the sample statement:\n"
        f"  curl -H 'Authorization: Bearer {demo.api_key}' \\\n"
        f"    -F file=@examples/bank-statement.csv -F company_id={demo.company_id} "
        f"-F tenant_id={demo.tenant_id} \\\n"
        f"    {base_url}/api/jobs/upload-and-categorize\n"
        "Then watch it (use the job_id it printed):\n"
        f"  .venv/bin/bkjobs watch <job_id> --url {base_url} --key {demo.api_key}\n",
        highlight=False,
    )
    return with_demo_key(settings, demo)


def submit_command(args: argparse.Namespace) -> int:
    upload = statement_to_upload(args)  # checked before anything reaches the server
    client = client_from(args)
    try:
        job_id = start_job(client, args, upload)
        console.print(Text.assemble(f"started {args.type} job ", (visible(job_id), "bold")))
        print(visible(job_id))
        return follow(client, job_id) if args.follow else 0
    finally:
        client.close()


def statement_to_upload(args: argparse.Namespace) -> Path | None:
    """upload-and-categorize's ``--file``, which must name a readable file; None otherwise."""
    if args.type != UPLOAD_AND_CATEGORIZE.name:
        return None
    path: Path | None = args.file
    if path is None:
        raise UsageError("submit upload-and-categorize needs --file (the statement to upload)")
    if not path.exists():
        raise UsageError(f"--file {path}: no such file")
    if not path.is_file():
        raise UsageError(f"--file {path}: not a file")
    return path


def start_job(client: JobsClient, args: argparse.Namespace, upload: Path | None) -> str:
    if upload is not None:
        try:
            return client.upload(upload, args.company, args.tenant)
        except OSError as exc:  # unreadable (permissions), or it vanished since the check
            raise UsageError(f"--file {upload}: {exc.strerror or exc}") from None
    body: dict[str, Any] = {"company_id": args.company, "tenant_id": args.tenant}
    if args.ids:
        body["transaction_ids"] = [i.strip() for i in args.ids.split(",") if i.strip()]
    if args.limit is not None:
        body["limit"] = args.limit
    body.update(parse_param(param) for param in args.param)
    return client.start(args.type, body)


def parse_param(text: str) -> tuple[str, Any]:
    field, separator, raw = text.partition("=")
    if not separator or not field:
        raise UsageError(f"--param needs FIELD=VALUE, not {text!r}")
    try:
        return field, json.loads(raw)
    except ValueError:
        return field, raw


def watch_command(args: argparse.Namespace) -> int:
    client = client_from(args)
    try:
        return follow(client, args.job_id)
    finally:
        client.close()


def follow(client: JobsClient, job_id: str) -> int:
    """A live progress bar until the job ends; non-zero exit unless it completed.

    Everything shown here came from the server (and may quote an uploaded file), so it is
    printed as text, never as markup, with control characters made visible."""
    events = client.follow(job_id)
    # Connect before drawing: a server that is down or a missing job is one error line,
    # not an empty progress bar above it.
    first: dict[str, Any] | None = next(events, None)
    job: dict[str, Any] = first or {}
    description = TextColumn("{task.description}", markup=False)
    with Progress(
        description, BarColumn(), TaskProgressColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task(visible(job_id), total=100)
        for job in itertools.chain([first] if first else [], events):
            status = visible(str(job.get("status")))
            message = visible(str(job.get("message") or "")[:60])
            bar.update(task, completed=job.get("progress", 0), description=f"{status:<9} {message}")
    return report_ending(job_id, job)


def report_ending(job_id: str, job: Mapping[str, Any]) -> int:
    """The last line of ``watch`` / ``--follow``, and its exit status."""
    status = str(job.get("status", ""))
    if status not in TERMINAL_STATUSES:
        # The server stopped (or restarted) while the job went on: say how to pick it up.
        raise ApiConnectionError(
            f"the API closed the event stream before job {job_id} ended; "
            f"bkjobs watch {job_id} follows it again"
        )
    if status == "complete":
        result = visible(json.dumps(job.get("result")))
        console.print(Text.assemble(("complete", "green"), ": ", result))
        return 0
    error = visible(str(job.get("error") or ""))
    console.print(Text.assemble((visible(status), "red"), ": ", error))
    return FAILED_EXIT


def cancel_command(args: argparse.Namespace) -> int:
    client = client_from(args)
    try:
        job = client.cancel(args.job_id)
    finally:
        client.close()
    console.print(untrusted(f"{job.get('id')}: {job.get('status')} ({job.get('message')})"))
    return 0


def list_command(args: argparse.Namespace) -> int:
    client = client_from(args)
    try:
        page = client.list_company(args.company, args.limit, args.cursor)
    finally:
        client.close()
    jobs: list[dict[str, Any]] = page.get("jobs") or []
    print_page([listing_line(job) for job in jobs], "job")
    next_cursor = page.get("next_cursor")
    if next_cursor:
        console.print(untrusted(f"more: {next_page_command(args, str(next_cursor))}"))
    return 0


def print_page(lines: list[str], noun: str) -> None:
    """A listing's lines on stdout, and how many on stderr."""
    for line in lines:
        print(line)
    console.print(f"{len(lines)} {noun}(s)")


def listing_line(job: Mapping[str, Any]) -> str:
    """One job of ``jobs list``: every field is the server's, made visible."""

    def field(name: str) -> str:
        return visible(str(job.get(name) if job.get(name) is not None else ""))

    last_word = field("error") or field("message")
    return (
        f"{field('id')}  {field('type'):<22} {field('status'):<9} {field('progress'):>3}%  "
        f"{field('created_at')}  {last_word}"
    )


def next_page_command(
    args: argparse.Namespace, cursor: str, command: Sequence[str] = ("jobs", "list")
) -> str:
    """The command that lists the next page, ready to paste (never with the key)."""
    words = ["bkjobs", *command, "--company", args.company]
    if args.limit != DEFAULT_LIST_LIMIT:
        words += ["--limit", str(args.limit)]
    if args.url:
        words += ["--url", args.url]
    return shlex.join([*words, "--cursor", cursor])


def cleanup_command(args: argparse.Namespace) -> int:
    from bookkeeper_jobs.api.store.local import LocalJobStore
    from bookkeeper_jobs.api.sweep import sweep_finished
    from bookkeeper_jobs.artifacts import artifact_store

    settings = server_settings(args)
    artifacts = artifact_store(settings)
    store = LocalJobStore(settings.jobs_db, delete_artifact=artifacts.delete)
    swept = sweep_finished(store, artifacts, settings.job_ttl)
    console.print(
        f"deleted {swept.jobs} finished job(s) older than {settings.job_ttl:g} s"
        f" and {swept.orphaned_uploads} upload(s) no job refers to"
    )
    return 0


def task_run_command(args: argparse.Namespace) -> int:
    from kubernetes import client

    from bookkeeper_jobs.kube import load_kube_configuration
    from bookkeeper_jobs.status_writes import ResourceRef, StatusWriter
    from bookkeeper_jobs.tasks.cluster_runner import run_task

    settings = checked_settings(load_settings)
    load_type_modules(settings.job_type_modules)
    api = client.CustomObjectsApi(client.ApiClient(load_kube_configuration()))
    writer = StatusWriter(api, ResourceRef.parse(args.job))
    return run_task(writer, settings)


def operator_run_command(args: argparse.Namespace) -> int:
    import kopf

    from bookkeeper_jobs.operator.run import run_operator

    kopf.configure(verbose=args.verbose)
    run_operator(checked_settings(load_settings), kubeconfig=args.kubeconfig)
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    from bookkeeper_jobs.ledger import Ledger

    ledger = Ledger.from_settings(server_settings(args))
    try:
        ledger.migrate()
    finally:
        ledger.dispose()
    console.print("ledger schema is up to date")
    return 0


RECEIPT_LINE_FIELDS = {"company", "date", "total", "currency", "tax", "confidence"}
"""What ``receipt extract`` prints of each extraction (the full text stays out of the line)."""


def receipt_extract_command(args: argparse.Namespace) -> int:
    """One JSON object a line per file, from ``extract_receipt`` (what the OCR job uses); a
    file that cannot be read is a line with its ``error``, and the exit status is then 2."""
    from bookkeeper_jobs.errors import OcrFailedError, OcrUnavailableError, ReceiptFileError
    from bookkeeper_jobs.receipts import extract_receipt

    status = 0
    for path in args.images:
        line: dict[str, Any] = {"file": str(path)}
        try:
            found = extract_receipt(path.read_bytes(), filename=path.name)
        except OcrUnavailableError as exc:
            report_error(str(exc))
            return ERROR_EXIT
        except (OSError, ReceiptFileError, OcrFailedError) as exc:
            line["error"] = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            status = ERROR_EXIT
        else:
            line |= found.model_dump(mode="json", include=RECEIPT_LINE_FIELDS)
        print(json_line(line), flush=True)
    return status


def receipt_upload_command(args: argparse.Namespace) -> int:
    """Upload a receipt and print its id on stdout (the company's receipt of the very same
    file, if it was uploaded before); with ``--read``, start an ``ocr`` job,
    follow it as ``submit --follow`` does and print what it read (exit 1 if it failed)."""
    path = receipt_file(args.file)  # checked before anything reaches the server
    client = client_from(args)
    try:
        try:
            receipt = client.upload_receipt(path, args.company, args.tenant)
        except OSError as exc:  # unreadable (permissions), or it vanished since the check
            raise UsageError(f"{path}: {exc.strerror or exc}") from None
        receipt_id = str(receipt.get("receipt_id"))
        kind = visible(str(receipt.get("content_type")))
        pages = plural(receipt.get("pages"), "page")
        size = plural(receipt.get("size_bytes"), "byte")
        # The same file again is the receipt it already is (named as first uploaded).
        done = "already uploaded: " if receipt.get("duplicate") else "uploaded "
        console.print(
            Text.assemble(
                done,
                (visible(str(receipt.get("filename"))), "bold"),
                f" ({kind}, {pages}, {size}) as receipt ",
                (visible(receipt_id), "bold"),
            )
        )
        print(visible(receipt_id), flush=True)
        if not args.read:
            return 0
        job_id = client.start(
            "ocr", {"company_id": args.company, "tenant_id": args.tenant, "receipt_id": receipt_id}
        )
        console.print(Text.assemble("started ocr job ", (visible(job_id), "bold")))
        ended = follow(client, job_id)
        if ended != 0:
            return ended
        for line in receipt_summary(client.get_receipt(receipt_id)):
            print(line)
        return 0
    finally:
        client.close()


def receipt_file(path: Path) -> Path:
    """``receipt upload``'s FILE, which must name a readable file."""
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path}: not a file")
    return path


def receipt_show_command(args: argparse.Namespace) -> int:
    client = client_from(args)
    try:
        receipt = client.get_receipt(args.receipt_id)
    finally:
        client.close()
    if args.json:
        print(json_line(receipt))
        return 0
    for line in receipt_summary(receipt, text=args.text):
        print(line)
    return 0


def receipt_list_command(args: argparse.Namespace) -> int:
    client = client_from(args)
    try:
        page = client.list_receipts(args.company, args.limit, args.cursor)
    finally:
        client.close()
    receipts: list[dict[str, Any]] = page.get("receipts") or []
    print_page([receipt_line(receipt) for receipt in receipts], "receipt")
    next_cursor = page.get("next_cursor")
    if next_cursor:
        more = next_page_command(args, str(next_cursor), ("receipt", "list"))
        console.print(untrusted(f"more: {more}"))
    return 0


def receipt_line(receipt: Mapping[str, Any]) -> str:
    """One receipt of ``receipt list``: every field is the server's (the file name the
    uploader's, the vendor what OCR read), made visible; a field not known yet is ``-``."""

    def field(name: str) -> str:
        value = receipt.get(name)
        return visible(str(value)) if value is not None and value != "" else "-"

    return (
        f"{field('receipt_id')}  {field('uploaded_at')}  {field('status'):<8}  "
        f"{field('date'):<10}  {field('total'):>10} {field('currency'):<3}  "
        f"{field('match_status'):<9}  {field('filename')}  {field('vendor')}"
    )


def receipt_summary(receipt: Mapping[str, Any], *, text: bool = False) -> list[str]:
    """A receipt as readable lines: the file, what OCR read (with each field's confidence)
    and the match. Every value is the server's and made visible; the OCR text (``text``)
    is printed line by line, each line made visible."""

    def shown(value: Any) -> str:
        return visible(str(value)) if value is not None and value != "" else "-"

    extraction: Mapping[str, Any] = receipt.get("extraction") or {}
    confidence: Mapping[str, Any] = extraction.get("confidence") or {}

    def read(label: str, value: Any, key: str) -> str:
        sure = confidence.get(key)
        suffix = f"  (confidence {shown(sure)})" if value is not None and sure is not None else ""
        return f"{label:<10}{shown(value)}{suffix}"

    receipt_id = shown(receipt.get("receipt_id"))
    size = plural(receipt.get("size_bytes"), "byte")
    lines = [
        f"{'receipt':<10}{receipt_id}  company {shown(receipt.get('company_id'))}",
        f"{'file':<10}{shown(receipt.get('filename'))}  ({shown(receipt.get('content_type'))},"
        f" {size}, uploaded {shown(receipt.get('uploaded_at'))})",
    ]
    if receipt.get("status") != "read":
        lines.append(
            f"{'status':<10}{shown(receipt.get('status'))}: not read yet (bkjobs submit ocr"
            f" --company {shown(receipt.get('company_id'))} --tenant TENANT"
            f" --param receipt_id={receipt_id} --follow)"
        )
        return lines
    total = receipt.get("total")
    currency = receipt.get("currency")
    amount = f"{total} {currency}" if total is not None and currency else total
    lines += [
        f"{'status':<10}read by job {shown(receipt.get('ocr_job_id'))}",
        read("vendor", receipt.get("vendor"), "company"),
        read("date", receipt.get("date"), "date"),
        read("total", amount, "total"),
        read("tax", receipt.get("tax"), "tax"),
        *match_lines(receipt.get("match") or {}),
    ]
    if text:
        lines.append("text")
        lines += [f"  {visible(line)}" for line in str(extraction.get("text") or "").splitlines()]
    return lines


def match_lines(match: Mapping[str, Any]) -> list[str]:
    """The match and the runner-up: the transaction's id, date, amount and description (the
    bank's text, from an uploaded statement: made visible), and the score."""

    def candidate(found: Mapping[str, Any]) -> str:
        parts = [str(found.get(key)) for key in ("transaction_id", "date", "amount")]
        return visible(
            f"{'  '.join(parts)}  {found.get('description')}  (score {found.get('score')})"
        )

    status = visible(str(match.get("status") or "-"))
    best: Mapping[str, Any] | None = match.get("transaction")
    reason = visible(str(match.get("reason") or ""))
    if status == "matched" and best:
        lines = [f"{'match':<10}matched: {candidate(best)}"]
    else:
        lines = [f"{'match':<10}{status}{f': {reason}' if reason else ''}"]
        if best:
            lines.append(f"{'best':<10}{candidate(best)}")
    runner_up: Mapping[str, Any] | None = match.get("runner_up")
    if runner_up:
        lines.append(f"{'runner-up':<10}{candidate(runner_up)}")
    return lines


def plural(count: Any, noun: str) -> str:
    """``1 page``, ``3 pages``, ``1,007 bytes`` (a count that is not a number as it came)."""
    if not isinstance(count, int) or isinstance(count, bool):
        return visible(f"{count} {noun}s")
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def json_line(value: Any) -> str:
    """``value`` as one line of JSON that is safe on a terminal and still JSON: what
    :func:`visible` would escape (C1 controls, bidi overrides, line separators; C0 controls
    are JSON escapes already) is written as a ``\\uXXXX`` escape, non-ASCII text kept."""
    text = json.dumps(value, ensure_ascii=False)
    if visible(text) == text:
        return text
    return "".join(char if visible(char) == char else f"\\u{ord(char):04x}" for char in text)


TRAIN_COLUMNS = ("description", "amount", "category")
INPUT_COLUMNS = ("id", "description", "amount")


def categorizer_predict_command(args: argparse.Namespace) -> int:
    """Train exactly what the categorize job trains (no rules) on ``--train`` and print CSV
    ``id,category,confidence,decision`` for every ``--input`` row. ``category`` is the
    model's guess (empty when TRAIN is too small for a model); ``decision`` says what the
    job does with it: ``auto`` books it, ``suggest`` stores it for review, ``none`` leaves
    the row uncategorized."""
    import csv

    from bookkeeper_jobs.ledger import TrainingExample
    from bookkeeper_jobs.tasks.categorizer import Categorizer, Item

    train_rows = read_csv_rows(args.train, TRAIN_COLUMNS)
    input_rows = read_csv_rows(args.input, INPUT_COLUMNS)
    examples = [
        TrainingExample(
            description=row["description"],
            amount=csv_amount(args.train, line, row["amount"]),
            category=row["category"].strip(),
            date=csv_date(args.train, line, row.get("date")),
        )
        for line, row in train_rows
    ]
    items = [
        Item(
            row["description"],
            csv_amount(args.input, line, row["amount"]),
            csv_date(args.input, line, row.get("date")),
        )
        for line, row in input_rows
    ]
    categorizer = Categorizer.train([], examples)
    predictions = categorizer.predict(items)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["id", "category", "confidence", "decision"])
    for (_, row), p in zip(input_rows, predictions, strict=True):
        category = p.category if categorizer.info.trained else ""
        out.writerow([row["id"], category, f"{p.confidence:.4f}", p.decision])
    sys.stdout.flush()
    return 0


def read_csv_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a UTF-8 CSV with a header naming at least ``required``."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in required if name not in header]
            if missing:
                raise UsageError(f"{path}: missing column {', '.join(missing)}")
            reader.fieldnames = header
            return [(reader.line_num, {k: v or "" for k, v in row.items()}) for row in reader]
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: not a readable UTF-8 CSV file ({exc})") from None


def csv_amount(path: Path, line: int, text: str) -> Decimal:
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except ArithmeticError:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise UsageError(f"{path} line {line}: amount {text!r} is not a number")
    return amount


def csv_date(path: Path, line: int, text: str | None) -> datetime.date | None:
    if text is None or not text.strip():
        return None
    try:
        return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{path} line {line}: date {text!r} is not YYYY-MM-DD") from None


if __name__ == "__main__":
    sys.exit(main())
