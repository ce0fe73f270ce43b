"""``bkjobs``: serve the embedded mode, and submit, follow, list and clean up jobs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from bookkeeper_jobs.client import JobsClient
from bookkeeper_jobs.errors import ApiError
from bookkeeper_jobs.jobs import UPLOAD_AND_CATEGORIZE, job_types, load_job_type_modules
from bookkeeper_jobs.settings import ClientSettings, Settings, load_settings

console = Console(stderr=True, soft_wrap=True)
FAILED_EXIT = 1


def main(argv: Sequence[str] | None = None) -> int:
    load_job_type_modules(ClientSettings().job_type_modules)
    args = build_parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except ApiError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bkjobs", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API with embedded workers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
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
    listing.add_argument("--limit", type=int, default=20)
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
    return parser


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="API base URL (default: BKJOBS_URL or 127.0.0.1:8000)")
    parser.add_argument("--key", help="API key or JWT (default: BKJOBS_API_KEY)")


def client_from(args: argparse.Namespace) -> JobsClient:
    overrides: dict[str, Any] = {}
    if args.url:
        overrides["url"] = args.url
    if args.key:
        overrides["api_key"] = args.key
    return JobsClient(ClientSettings(**overrides))


def server_settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {key: value for key, value in extra.items() if value is not None}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    return load_settings(**overrides)


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn

    from bookkeeper_jobs.api.app import create_app

    settings = server_settings(args, worker_concurrency=args.workers)
    if args.demo:
        settings = prepare_demo(settings, f"http://{args.host}:{args.port}")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


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
    client = client_from(args)
    try:
        job_id = start_job(client, args)
        console.print(f"started {args.type} job [bold]{job_id}[/bold]")
        print(job_id)
        return follow(client, job_id) if args.follow else 0
    finally:
        client.close()


def start_job(client: JobsClient, args: argparse.Namespace) -> str:
    if args.type == UPLOAD_AND_CATEGORIZE.name:
        if args.file is None:
            raise SystemExit("bkjobs submit upload-and-categorize needs --file")
        return client.upload(args.file, args.company, args.tenant)
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
        raise SystemExit(f"--param needs FIELD=VALUE, not {text!r}")
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
    """A live progress bar until the job ends; non-zero exit unless it completed."""
    job: dict[str, Any] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(job_id, total=100)
        for job in client.follow(job_id):
            description = f"{job['status']:<9} {job['message'][:60]}"
            bar.update(task, completed=job["progress"], description=description)
    if job.get("status") == "complete":
        console.print(f"[green]complete[/green]: {json.dumps(job.get('result'))}")
        return 0
    console.print(f"[red]{job.get('status', 'unknown')}[/red]: {job.get('error') or ''}")
    return FAILED_EXIT


def cancel_command(args: argparse.Namespace) -> int:
    client = client_from(args)
    try:
        job = client.cancel(args.job_id)
    finally:
        client.close()
    console.print(f"{job['id']}: {job['status']} ({job['message']})")
    return 0


def list_command(args: argparse.Namespace) -> int:
    client = client_from(args)
    try:
        page = client.list_company(args.company, args.limit)
    finally:
        client.close()
    for job in page["jobs"]:
        print(
            f"{job['id']}  {job['type']:<22} {job['status']:<9} {job['progress']:>3}%  "
            f"{job['created_at']}  {job['error'] or job['message']}"
        )
    console.print(f"{page['count']} job(s)")
    return 0


def cleanup_command(args: argparse.Namespace) -> int:
    from bookkeeper_jobs.api.store.local import LocalJobStore
    from bookkeeper_jobs.api.store.local_lifecycle import older_than
    from bookkeeper_jobs.artifacts import ArtifactStore

    settings = server_settings(args)
    artifacts = ArtifactStore(settings.artifacts_dir)
    store = LocalJobStore(settings.jobs_db, delete_artifact=artifacts.delete)
    deleted = store.sweep(older_than=older_than(settings.job_ttl))
    console.print(f"deleted {deleted} finished job(s) older than {settings.job_ttl:g} s")
    return 0


def task_run_command(args: argparse.Namespace) -> int:
    from kubernetes import client

    from bookkeeper_jobs.kube import load_kube_configuration
    from bookkeeper_jobs.status_writes import ResourceRef, StatusWriter
    from bookkeeper_jobs.tasks.cluster_runner import run_task

    settings = load_settings()
    load_job_type_modules(settings.job_type_modules)
    api = client.CustomObjectsApi(client.ApiClient(load_kube_configuration()))
    writer = StatusWriter(api, ResourceRef.parse(args.job))
    return run_task(writer, settings)


def operator_run_command(args: argparse.Namespace) -> int:
    import kopf

    from bookkeeper_jobs.operator.run import run_operator

    kopf.configure(verbose=args.verbose)
    run_operator(load_settings(), kubeconfig=args.kubeconfig)
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


if __name__ == "__main__":
    sys.exit(main())
