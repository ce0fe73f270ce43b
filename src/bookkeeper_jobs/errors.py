"""Errors of bookkeeper-jobs, one hierarchy:

BookkeeperJobsError
├── TaskError                   raised by task functions
│   ├── RetryableTaskError      may pass on a later attempt (backends retry with backoff)
│   └── FatalTaskError          retrying cannot help; the job fails with this message
└── JobStoreError               raised by JobStore backends
    ├── JobNotFoundError        no such job (or not the caller's)
    ├── IdempotencyConflictError  same Idempotency-Key, other request body
    └── JobStateError           the job is not in a state that allows the operation
"""

from __future__ import annotations


class BookkeeperJobsError(Exception):
    """Base of every error this project raises on purpose."""


class TaskError(BookkeeperJobsError):
    """A task could not finish; the message is shown to users in the job's ``error``."""


class RetryableTaskError(TaskError):
    """A transient failure (a locked database, a timeout talking to a service)."""


class FatalTaskError(TaskError):
    """Bad input or state that another attempt will not fix."""


class JobStoreError(BookkeeperJobsError):
    """A job store refused or failed an operation."""


class JobNotFoundError(JobStoreError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found")
        self.job_id = job_id


class IdempotencyConflictError(JobStoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request body")
        self.key = key


class JobStateError(JobStoreError):
    """E.g. cancelling a job that already finished."""
