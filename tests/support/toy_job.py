"""A toy job type, added exactly as ``docs/adding-a-job-type.md`` shows: one spec model,
one result model, one task function and one registration, in one module named by
``BKJOBS_JOB_TYPE_MODULES``. The contract suite runs it in both modes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from bookkeeper_jobs.jobs import JobSpecBase, JobTypeInfo, register_job_type
from bookkeeper_jobs.ledger import Approval
from bookkeeper_jobs.tasks.context import TaskContext


class CountTransactionsSpec(JobSpecBase):
    type: Literal["count-transactions"] = "count-transactions"
    approved_only: bool = Field(default=False, description="Count approved ones only")


class CountTransactionsResult(BaseModel):
    company_id: str = Field(description="The company counted.")
    transactions: int = Field(ge=0, description="How many transactions it has.")
    counted_by: str = Field(description="The job that counted them.")


def count_transactions(context: TaskContext[CountTransactionsSpec]) -> CountTransactionsResult:
    spec = context.spec
    context.reporter.update(10, f"Counting {spec.company_id}'s transactions")
    approval: Approval | None = "approved" if spec.approved_only else None
    count = context.ledger.count_transactions(spec.company_id, approval=approval)
    context.reporter.update(100, f"Counted {count}")
    return CountTransactionsResult(
        company_id=spec.company_id, transactions=count, counted_by=context.job_id
    )


COUNT_TRANSACTIONS = register_job_type(
    JobTypeInfo(
        name="count-transactions",
        spec=CountTransactionsSpec,
        result=CountTransactionsResult,
        task="tests.support.toy_job:count_transactions",
        summary="Count the company's transactions.",
    )
)
