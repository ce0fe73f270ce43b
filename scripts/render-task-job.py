"""Print the task Job the operator would create, configured exactly as the chart configures it.

Reads a `helm template` rendering on stdin, takes the operator Deployment's
BKJOBS_TASK_TEMPLATE (validated as a JobTemplateConfig), builds the Job of a sample
BookkeepingJob with build_job_manifest and prints it as YAML, for kubernetes-validate.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from bookkeeper_jobs.jobs import CategorizeSpec
from bookkeeper_jobs.operator.manifests import JobTemplateConfig, build_job_manifest
from bookkeeper_jobs.resource import spec_to_resource


def task_template(documents: list[dict[str, Any]]) -> str:
    for doc in documents:
        if doc.get("kind") == "Deployment" and doc["metadata"]["name"].endswith("-operator"):
            [container] = doc["spec"]["template"]["spec"]["containers"]
            for env in container["env"]:
                if env["name"] == "BKJOBS_TASK_TEMPLATE":
                    return str(env["value"])
    raise SystemExit("render-task-job: no operator Deployment with BKJOBS_TASK_TEMPLATE")


def main() -> None:
    documents = [doc for doc in yaml.safe_load_all(sys.stdin) if doc]
    config = JobTemplateConfig.model_validate_json(task_template(documents))
    spec = CategorizeSpec(company_id="acme:eu", tenant_id="t1", limit=10)
    resource = spec_to_resource(spec, job_id="job-0123456789abcdef0123", namespace="books")
    yaml.safe_dump(build_job_manifest(resource, config), sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
