"""Errors of bookkeeper-jobs, one hierarchy:

BookkeeperJobsError
├── TaskError                   raised by task functions
│   ├── RetryableTaskError      may pass on a later attempt (backends retry with backoff)
│   │   └── ServiceUnavailableError  a service the task needs is down (the ledger database):
│   │                                retried longer, to ride out an outage
│   └── FatalTaskError          retrying cannot help; the job fails with this message
├── StatementFormatError        a file that cannot be read as a bank statement at all
├── ArtifactTooLargeError       an upload over the size limit (nothing is kept)
├── AuthenticationError         a missing, unknown, expired or malformed token (401)
├── ApiError                    the bookkeeper-jobs HTTP API answered an error (client side)
├── UnknownJobTypeError         a job type nobody registered
├── JobStoreError               raised by JobStore backends
│   ├── JobNotFoundError        no such job (or not the caller's)
│   ├── IdempotencyConflictError  same Idempotency-Key, other request body
│   ├── InvalidCursorError      a listing cursor this service did not make
│   ├── StoredJobError          a stored job (row or resource) that does not parse
│   ├── StorageError            the job store (or the upload store) cannot read or write now
│   └── JobStateError           the job is not in a state that allows the operation
│       └── TransitionRefusedError  the lifecycle table does not allow this event now
├── KubernetesApiError          the Kubernetes API server refused a request (see kube.py)
│   ├── ResourceNotFoundError   404
│   ├── ResourceConflictError   409: AlreadyExists, or a stale resourceVersion
│   ├── ResourceExpiredError    410: a watch or list resourceVersion too old
│   └── ResourceInvalidError    422: the object broke the schema or a validation rule
├── ReceiptFileError            a receipt file that cannot be read (see receipts/loading.py)
│   ├── EmptyReceiptError       no bytes at all
│   ├── UnsupportedReceiptTypeError  not JPEG, PNG, TIFF or PDF by its content (415)
│   ├── CorruptReceiptError     a truncated or damaged image or PDF
│   └── ReceiptTooLargeError    too many pages or pixels (a PDF or decompression bomb)
└── OcrError                    the OCR engine could not run
    ├── OcrUnavailableError     the tesseract binary is missing; says how to install it
    └── OcrFailedError          tesseract crashed or ran past its time limit
"""

from __future__ import annotations

from typing import Any


class BookkeeperJobsError(Exception):
    """Base of every error this project raises on purpose."""


class TaskError(BookkeeperJobsError):
    """A task could not finish; the message is shown to users in the job's ``error``.

    ``partial_result`` (the task's result model, or ``None``) says what it did before it
    failed; the job keeps it as its ``result`` when the failure is final."""

    def __init__(self, message: str, *, partial_result: Any = None) -> None:
        super().__init__(message)
        self.partial_result = partial_result


class RetryableTaskError(TaskError):
    """A transient failure (a locked database, a timeout talking to a service)."""


class ServiceUnavailableError(RetryableTaskError):
    """An outage of infrastructure the task needs (the ledger database unreachable): not the
    task's fault, so it is retried with a longer budget than a task's own errors."""


class FatalTaskError(TaskError):
    """Bad input or state that another attempt will not fix."""


class StatementFormatError(BookkeeperJobsError, ValueError):
    """The file as a whole cannot be read as a statement; the message says why."""


class ArtifactTooLargeError(BookkeeperJobsError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"file is larger than the {limit} byte limit")
        self.limit = limit


class AuthenticationError(BookkeeperJobsError):
    """The token is missing, unknown, expired or malformed (answered with 401)."""


class ApiError(BookkeeperJobsError):
    """The API answered with an error status; the message is its ``detail``."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code


class UnknownJobTypeError(BookkeeperJobsError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown job type {name!r} (known: {', '.join(known)})")
        self.name = name


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


class InvalidCursorError(JobStoreError):
    def __init__(self) -> None:
        super().__init__(
            "cursor is not valid: pass the next_cursor of an earlier page, or list again"
            " from the start (its job may have been deleted since)"
        )


class StoredJobError(JobStoreError):
    """A stored job that does not parse: a bug or a hand edit, never the caller's fault."""


class StorageError(JobStoreError):
    """The disk or database under a store failed (full, read-only, I/O error, locked too
    long). ``full`` says whether it is out of space (the API answers 507, else 503)."""

    def __init__(self, cause: str, *, full: bool = False) -> None:
        super().__init__(cause)
        self.full = full


class JobStateError(JobStoreError):
    """E.g. cancelling a job that already finished."""


class TransitionRefusedError(JobStateError):
    """The event is not allowed from the job's phase, or comes from a stale attempt."""


class KubernetesApiError(BookkeeperJobsError):
    """The API server answered ``status`` (``reason`` is its Status reason, if any)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason


class ResourceNotFoundError(KubernetesApiError):
    """404 NotFound."""


class ResourceConflictError(KubernetesApiError):
    """409: AlreadyExists on create, Conflict on a write with a stale resourceVersion."""


class ResourceExpiredError(KubernetesApiError):
    """410 Gone / Expired: re-list instead of resuming from that resourceVersion."""


class ResourceInvalidError(KubernetesApiError):
    """422 Invalid: schema, CEL rule or size limit."""


class ReceiptFileError(BookkeeperJobsError, ValueError):
    """A receipt file that cannot be read as a receipt; the message says why and is safe to
    show to the user who uploaded it."""


class EmptyReceiptError(ReceiptFileError):
    """The file has no bytes."""


class UnsupportedReceiptTypeError(ReceiptFileError):
    """The content is not JPEG, PNG, TIFF or PDF, whatever the file's name says."""


class CorruptReceiptError(ReceiptFileError):
    """The content starts like a supported type but cannot be decoded (truncated, damaged)."""


class ReceiptTooLargeError(ReceiptFileError):
    """More pages or pixels than a receipt can have: refused before anything is decoded."""


class OcrError(BookkeeperJobsError):
    """The OCR engine could not process a page."""


class OcrUnavailableError(OcrError):
    """The ``tesseract`` binary is not installed (or not where it was configured)."""


class OcrFailedError(OcrError):
    """tesseract ran but failed on a page, or ran past its time limit."""


class SecretsKeyError(BookkeeperJobsError):
    """No secrets key is set, or stored credentials do not open with it."""


class QuickBooksError(BookkeeperJobsError):
    """QuickBooks Online refused or failed a request (the message says what it answered)."""


class NotConnectedError(QuickBooksError):
    """The company has no QuickBooks Online connection (or it was revoked)."""
