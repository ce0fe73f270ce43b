"""The ceiling: plain FastAPI routes that answer a constant job (no authentication, no store),
served by the same uvicorn, uvloop and httptools as the product.

    uvicorn --app-dir bench compare.bare:app
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, status
from pydantic import BaseModel
from seed_design.tasks import nothing_to_categorize

JOB: dict[str, Any] = {
    "id": "job-0123456789abcdef0123",
    "type": "categorize",
    "company_id": "co-000",
    "tenant_id": "t1",
    "status": "complete",
    "progress": 100,
    "message": "Complete",
    "error": None,
    "result": nothing_to_categorize("co-000"),
    "created_at": "2025-01-01T00:00:00Z",
    "started_at": "2025-01-01T00:00:01Z",
    "finished_at": "2025-01-01T00:00:02Z",
    "attempts": 1,
    "conditions": [
        {
            "type": kind,
            "status": "True" if kind == "Succeeded" else "False",
            "reason": "Completed",
            "message": "Complete",
            "last_transition_time": "2025-01-01T00:00:02Z",
        }
        for kind in ("Running", "Succeeded", "Failed", "Cancelled")
    ],
}

app = FastAPI(title="bare endpoint")


class CategorizeRequest(BaseModel):
    company_id: str
    tenant_id: str
    transaction_ids: list[str] | None = None
    limit: int = 100


@app.post("/api/jobs/categorize", status_code=status.HTTP_202_ACCEPTED)
async def start_categorize(body: CategorizeRequest) -> dict[str, str]:
    del body
    return {"job_id": JOB["id"], "status": "pending"}


@app.get("/api/jobs/company/{company_id}")
async def list_company_jobs(
    company_id: str, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    jobs = [JOB] * limit
    return {"company_id": company_id, "jobs": jobs, "count": limit, "next_cursor": None}


@app.get("/api/jobs/{job_id}")
async def read_job(job_id: str) -> dict[str, Any]:
    del job_id
    return JOB
