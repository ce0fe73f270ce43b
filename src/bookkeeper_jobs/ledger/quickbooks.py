"""QuickBooks Online in the ledger (``ledger.quickbooks``): each company's connection (its
credentials sealed by the caller, never readable here), the Connect flow's states, the
export record of each transaction (exactly once) and the files an export wrote."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.ledger.models import (
    companies,
    export_files,
    qbo_connections,
    qbo_exports,
    qbo_oauth_states,
    transactions,
)
from bookkeeper_jobs.ledger.records import Transaction, aware, transaction_from_row

if TYPE_CHECKING:
    from bookkeeper_jobs.ledger.ledger import Ledger

Environment = Literal["sandbox", "production"]


@dataclass(frozen=True)
class StoredConnection:
    company_id: str
    environment: Environment
    realm_id: str
    credentials: str
    """Sealed (``secretbox``): only the code holding the secrets key opens it."""
    refresh_token_expires_at: dt.datetime | None
    connected_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class PendingState:
    company_id: str
    tenant_id: str
    environment: Environment


@dataclass(frozen=True)
class ExportRecord:
    transaction_id: str
    realm_id: str
    state: Literal["sending", "exported"]
    request_id: str
    qbo_entity: str
    qbo_id: str | None
    sync_token: str | None


@dataclass(frozen=True)
class StoredExportFile:
    id: str
    company_id: str
    tenant_id: str
    job_id: str
    artifact_id: str
    filename: str
    content_type: str
    created_at: dt.datetime


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class QuickBooksBook:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    # -- connections -------------------------------------------------------------------

    def connection(self, company_id: str) -> StoredConnection | None:
        with self._ledger._reading() as conn:
            row = conn.execute(
                select(qbo_connections).where(qbo_connections.c.company_id == company_id)
            ).first()
        return None if row is None else _connection(row)

    def save_connection(
        self,
        company_id: str,
        *,
        environment: Environment,
        realm_id: str,
        credentials: str,
        refresh_token_expires_at: dt.datetime | None,
    ) -> StoredConnection:
        """Connect the company (replacing an earlier connection)."""
        now = utcnow()
        values = {
            "environment": environment,
            "realm_id": realm_id,
            "credentials": credentials,
            "refresh_token_expires_at": refresh_token_expires_at,
            "updated_at": now,
        }
        with self._ledger._writing() as conn:
            conn.execute(
                self._ledger._insert(qbo_connections)
                .values(company_id=company_id, connected_at=now, **values)
                .on_conflict_do_update(index_elements=["company_id"], set_=values)
            )
            row = conn.execute(
                select(qbo_connections).where(qbo_connections.c.company_id == company_id)
            ).one()
        return _connection(row)

    def update_credentials(
        self,
        company_id: str,
        realm_id: str,
        credentials: str,
        refresh_token_expires_at: dt.datetime | None,
    ) -> bool:
        """Store rotated tokens at once (a crash right after must not lose them); False when
        the company was disconnected or reconnected to another realm meanwhile."""
        with self._ledger._writing() as conn:
            updated = conn.execute(
                update(qbo_connections)
                .where(
                    qbo_connections.c.company_id == company_id,
                    qbo_connections.c.realm_id == realm_id,
                )
                .values(
                    credentials=credentials,
                    refresh_token_expires_at=refresh_token_expires_at,
                    updated_at=utcnow(),
                )
            )
        return updated.rowcount == 1

    def delete_connection(self, company_id: str) -> bool:
        with self._ledger._writing() as conn:
            deleted = conn.execute(
                delete(qbo_connections).where(qbo_connections.c.company_id == company_id)
            )
        return deleted.rowcount == 1

    # -- the Connect flow's states -----------------------------------------------------

    def new_state(
        self, company_id: str, tenant_id: str, environment: Environment, ttl: float
    ) -> tuple[str, dt.datetime]:
        """A fresh single-use ``state`` for the company and when it expires (only its hash
        is stored; expired ones are cleared on the way)."""
        state = secrets.token_urlsafe(32)
        now = utcnow()
        expires_at = now + dt.timedelta(seconds=ttl)
        with self._ledger._writing() as conn:
            conn.execute(delete(qbo_oauth_states).where(qbo_oauth_states.c.expires_at < now))
            conn.execute(
                qbo_oauth_states.insert().values(
                    state_hash=state_hash(state),
                    company_id=company_id,
                    tenant_id=tenant_id,
                    environment=environment,
                    expires_at=expires_at,
                )
            )
        return state, expires_at

    def consume_state(self, state: str) -> PendingState | None:
        """The flow ``state`` started, used up by this call; None when it is unknown, used
        or expired."""
        with self._ledger._writing() as conn:
            row = conn.execute(
                select(qbo_oauth_states).where(qbo_oauth_states.c.state_hash == state_hash(state))
            ).first()
            if row is None:
                return None
            conn.execute(
                delete(qbo_oauth_states).where(qbo_oauth_states.c.state_hash == row.state_hash)
            )
        expires_at = aware(row.expires_at)
        if expires_at is None or expires_at < utcnow():
            return None
        return PendingState(row.company_id, row.tenant_id, row.environment)

    # -- exports -----------------------------------------------------------------------

    def exportable(
        self,
        company_id: str,
        realm_id: str,
        start: dt.date,
        end: dt.date,
        *,
        after: str | None,
        limit: int,
    ) -> list[Transaction]:
        """Approved, categorized transactions dated ``start``-``end`` with no export record
        for the realm (``sending`` ones are :meth:`unfinished`'s), by id after ``after``."""
        exported = _recorded(company_id, realm_id)
        query = (
            select(transactions)
            .where(*_approved(company_id, start, end), transactions.c.id.not_in(exported))
            .order_by(transactions.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(transactions.c.id > after)
        with self._ledger._reading() as conn:
            return [transaction_from_row(row) for row in conn.execute(query)]

    def export_counts(
        self, company_id: str, realm_id: str, start: dt.date, end: dt.date
    ) -> tuple[int, int]:
        """Approved, categorized transactions in the range, and how many of them have an
        export record for the realm (exported, or being sent)."""
        in_range = _approved(company_id, start, end)
        recorded = _recorded(company_id, realm_id)
        with self._ledger._reading() as conn:
            total = conn.execute(select(func.count()).where(*in_range)).scalar_one()
            done = conn.execute(
                select(func.count()).where(*in_range, transactions.c.id.in_(recorded))
            ).scalar_one()
        return int(total), int(done)

    def approved_in_range(
        self, company_id: str, start: dt.date, end: dt.date, *, limit: int
    ) -> list[Transaction]:
        """Approved, categorized transactions in the range, by date (what a file holds)."""
        query = (
            select(transactions)
            .where(*_approved(company_id, start, end))
            .order_by(transactions.c.date, transactions.c.id)
            .limit(limit)
        )
        with self._ledger._reading() as conn:
            return [transaction_from_row(row) for row in conn.execute(query)]

    def records(
        self, company_id: str, realm_id: str, transaction_ids: Sequence[str]
    ) -> list[ExportRecord]:
        with self._ledger._reading() as conn:
            rows = conn.execute(
                select(qbo_exports).where(
                    qbo_exports.c.company_id == company_id,
                    qbo_exports.c.realm_id == realm_id,
                    qbo_exports.c.transaction_id.in_(list(transaction_ids)),
                )
            )
            return [_record(row) for row in rows]

    def unfinished(self, company_id: str, realm_id: str) -> list[ExportRecord]:
        """Exports written as ``sending`` whose answer was never recorded (a crash)."""
        with self._ledger._reading() as conn:
            rows = conn.execute(
                select(qbo_exports)
                .where(
                    qbo_exports.c.company_id == company_id,
                    qbo_exports.c.realm_id == realm_id,
                    qbo_exports.c.state == "sending",
                )
                .order_by(qbo_exports.c.transaction_id)
            )
            return [_record(row) for row in rows]

    def start_sending(
        self, company_id: str, realm_id: str, job_id: str, items: Sequence[tuple[str, str, str]]
    ) -> None:
        """Record ``(transaction_id, qbo_entity, request_id)`` as being sent, before the
        request leaves (rows already there keep their request id)."""
        now = utcnow()
        with self._ledger._writing() as conn:
            for transaction_id, entity, request_id in items:
                conn.execute(
                    self._ledger._insert(qbo_exports)
                    .values(
                        company_id=company_id,
                        transaction_id=transaction_id,
                        realm_id=realm_id,
                        state="sending",
                        request_id=request_id,
                        qbo_entity=entity,
                        job_id=job_id,
                        updated_at=now,
                    )
                    .on_conflict_do_nothing(
                        index_elements=["company_id", "realm_id", "transaction_id"]
                    )
                )

    def mark_exported(
        self,
        company_id: str,
        realm_id: str,
        exported: Sequence[tuple[str, str, str]],
        job_id: str,
    ) -> None:
        """Record ``(transaction_id, qbo_id, sync_token)`` as created in QuickBooks."""
        now = utcnow()
        with self._ledger._writing() as conn:
            for transaction_id, qbo_id, sync_token in exported:
                conn.execute(
                    update(qbo_exports)
                    .where(
                        qbo_exports.c.company_id == company_id,
                        qbo_exports.c.realm_id == realm_id,
                        qbo_exports.c.transaction_id == transaction_id,
                    )
                    .values(
                        state="exported",
                        qbo_id=qbo_id,
                        sync_token=sync_token,
                        job_id=job_id,
                        updated_at=now,
                    )
                )

    def forget_unsent(self, company_id: str, realm_id: str, transaction_ids: Sequence[str]) -> None:
        """Drop ``sending`` records QuickBooks refused (a validation fault: nothing was
        created), so a later export tries them again once fixed."""
        with self._ledger._writing() as conn:
            conn.execute(
                delete(qbo_exports).where(
                    and_(
                        qbo_exports.c.company_id == company_id,
                        qbo_exports.c.realm_id == realm_id,
                        qbo_exports.c.state == "sending",
                        qbo_exports.c.transaction_id.in_(list(transaction_ids)),
                    )
                )
            )

    # -- export files ------------------------------------------------------------------

    def add_file(
        self, company_id: str, job_id: str, artifact_id: str, filename: str, content_type: str
    ) -> str:
        file_id = f"file-{secrets.token_hex(10)}"
        with self._ledger._writing() as conn:
            conn.execute(
                export_files.insert().values(
                    id=file_id,
                    company_id=company_id,
                    job_id=job_id,
                    artifact_id=artifact_id,
                    filename=filename,
                    content_type=content_type,
                    created_at=utcnow(),
                )
            )
        return file_id

    def file(self, file_id: str) -> StoredExportFile | None:
        query = select(export_files, companies.c.tenant_id).join(
            companies, companies.c.id == export_files.c.company_id
        )
        with self._ledger._reading() as conn:
            row = conn.execute(query.where(export_files.c.id == file_id)).first()
        if row is None:
            return None
        created_at = aware(row.created_at)
        assert created_at is not None
        return StoredExportFile(
            id=row.id,
            company_id=row.company_id,
            tenant_id=row.tenant_id,
            job_id=row.job_id,
            artifact_id=row.artifact_id,
            filename=row.filename,
            content_type=row.content_type,
            created_at=created_at,
        )


def _recorded(company_id: str, realm_id: str) -> Any:
    """The ids of the company's transactions with an export record for the realm."""
    return select(qbo_exports.c.transaction_id).where(
        qbo_exports.c.company_id == company_id, qbo_exports.c.realm_id == realm_id
    )


def _approved(company_id: str, start: dt.date, end: dt.date) -> list[ColumnElement[bool]]:
    return [
        transactions.c.company_id == company_id,
        transactions.c.approval == "approved",
        transactions.c.category.is_not(None),
        transactions.c.date.between(start, end),
    ]


def _connection(row: Any) -> StoredConnection:
    connected_at, updated_at = aware(row.connected_at), aware(row.updated_at)
    assert connected_at is not None and updated_at is not None
    return StoredConnection(
        company_id=row.company_id,
        environment=row.environment,
        realm_id=row.realm_id,
        credentials=row.credentials,
        refresh_token_expires_at=aware(row.refresh_token_expires_at),
        connected_at=connected_at,
        updated_at=updated_at,
    )


def _record(row: Any) -> ExportRecord:
    return ExportRecord(
        transaction_id=row.transaction_id,
        realm_id=row.realm_id,
        state=row.state,
        request_id=row.request_id,
        qbo_entity=row.qbo_entity,
        qbo_id=row.qbo_id,
        sync_token=row.sync_token,
    )
