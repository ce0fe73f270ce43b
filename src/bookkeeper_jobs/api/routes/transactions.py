"""What a frontend needs to show and correct the categorizer's work: the company's
transactions (filtered, newest first), a correction (audited, idempotent), the rules the
corrections suggest, and the rules themselves. Another tenant's transaction is a 404, as
for jobs; a company outside the grant is a 403.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi import Path as PathParam
from fastapi import status as http
from pydantic import BaseModel, ConfigDict, Field

from bookkeeper_jobs.api.deps import CurrentPrincipal, Ledger, require_company
from bookkeeper_jobs.api.problems import problem, quoted
from bookkeeper_jobs.api.store.protocol import decode_cursor, encode_cursor
from bookkeeper_jobs.errors import InvalidCursorError
from bookkeeper_jobs.ledger import Rule, RuleKind, Transaction
from bookkeeper_jobs.ledger.review import (
    CategoryChangeRecord,
    Status,
    TransactionFilter,
    UnknownAccountError,
)

router = APIRouter(tags=["transactions"])

Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: problem("No such transaction, or not one of yours.")}
COMPANY: Responses = {403: problem("The company is not in your grant.")}
MAX_RULE_ID = 2**31 - 1
"""Rule ids are database integers (32-bit in PostgreSQL): a larger one names no rule."""
AccountCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]


class Suggestion(BaseModel):
    category: str
    confidence: float | None


class TransactionView(BaseModel):
    id: str
    company_id: str
    date: dt.date
    description: str
    amount: Decimal
    currency: str
    category: str | None
    confidence: float | None
    source: Literal["rule", "model", "user"] | None = Field(
        description="Who decided the category: a rule, the model, or a person."
    )
    approved: bool
    suggestion: Suggestion | None = Field(
        default=None, description="The model's guess, for review (not booked)."
    )

    @classmethod
    def of(cls, transaction: Transaction) -> TransactionView:
        suggested = transaction.suggested_category
        return cls(
            id=transaction.id,
            company_id=transaction.company_id,
            date=transaction.date,
            description=transaction.description,
            amount=transaction.amount,
            currency=transaction.currency,
            category=transaction.category,
            confidence=transaction.confidence,
            source=transaction.category_source,
            approved=transaction.approval == "approved",
            suggestion=(
                Suggestion(category=suggested, confidence=transaction.suggestion_confidence)
                if suggested
                else None
            ),
        )


class CategoryChange(BaseModel):
    actor: str = Field(description="Who: an API key's fingerprint, or the JWT's subject.")
    old_category: str | None
    new_category: str
    at: dt.datetime

    @classmethod
    def of(cls, change: CategoryChangeRecord) -> CategoryChange:
        return cls(
            actor=change.actor,
            old_category=change.old_category,
            new_category=change.new_category,
            at=change.at,
        )


class TransactionDetail(TransactionView):
    changes: list[CategoryChange] = Field(description="People's category changes, oldest first.")


class CompanyTransactions(BaseModel):
    company_id: str
    transactions: list[TransactionView]
    count: int
    next_cursor: str | None


class Correction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: AccountCode = Field(description="An account code of the company's chart.")


class Corrected(TransactionView):
    changed: bool = Field(description="False when it already had this category from a person.")


class RuleView(BaseModel):
    id: int
    kind: RuleKind
    pattern: str | None
    min_amount: Decimal | None
    max_amount: Decimal | None
    account_code: str
    priority: int

    @classmethod
    def of(cls, rule: Rule) -> RuleView:
        return cls(
            id=rule.id,
            kind=rule.kind,
            pattern=rule.pattern,
            min_amount=rule.min_amount,
            max_amount=rule.max_amount,
            account_code=rule.account_code,
            priority=rule.priority,
        )


class NewRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RuleKind
    pattern: str | None = Field(default=None, min_length=1, max_length=200)
    min_amount: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    max_amount: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    account_code: AccountCode
    priority: int = Field(default=100, ge=0, le=10_000)


class RuleSuggestionView(BaseModel):
    kind: Literal["contains"] = "contains"
    pattern: str = Field(description="What the merchant's descriptions contain.")
    account_code: str
    corrections: int = Field(description="People categorized this many of its rows, all alike.")
    examples: list[str]


def own_company(company_id: str, principal: CurrentPrincipal) -> str:
    require_company(principal, principal.tenant_id, company_id)
    return company_id


OwnCompany = Annotated[str, Depends(own_company)]


def visible_transaction(
    transaction_id: str, principal: CurrentPrincipal, ledger: Ledger
) -> Transaction:
    with ledger.use() as book:
        found = book.review.transaction(transaction_id)
    if found is None or not principal.may_access(found[1], found[0].company_id):
        raise HTTPException(
            http.HTTP_404_NOT_FOUND, detail=f"transaction {quoted(transaction_id)} not found"
        )
    return found[0]


VisibleTransaction = Annotated[Transaction, Depends(visible_transaction)]


@router.get(
    "/api/companies/{company_id}/transactions",
    responses={**COMPANY, 400: problem("The cursor is not one this listing gave out.")},
)
def list_transactions(
    company_id: OwnCompany,
    principal: CurrentPrincipal,
    ledger: Ledger,
    status: Annotated[
        Status | None,
        Query(description="pending or approved; uncategorized; suggested (awaiting review)."),
    ] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of the description.")] = None,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> CompanyTransactions:
    """The company's transactions, newest first, with their category, confidence, source and
    suggestion; follow `next_cursor` for older ones."""
    where = TransactionFilter(status=status, category=category, text=q, start=start, end=end)
    with ledger.use() as book:
        after = _cursor_transaction(book, cursor, company_id, principal) if cursor else None
        found = book.review.page(company_id, where, limit=limit + 1, after=after)
    page = [TransactionView.of(t) for t in found[:limit]]
    next_cursor = encode_cursor(page[-1].id) if len(found) > limit else None
    return CompanyTransactions(
        company_id=company_id, transactions=page, count=len(page), next_cursor=next_cursor
    )


def _cursor_transaction(
    book: Any, cursor: str, company_id: str, principal: CurrentPrincipal
) -> Transaction:
    try:
        found = book.review.transaction(decode_cursor(cursor))
    except InvalidCursorError:
        found = None
    if found is None or found[0].company_id != company_id or found[1] != principal.tenant_id:
        raise HTTPException(
            http.HTTP_400_BAD_REQUEST, detail="cursor: not a cursor of this listing"
        )
    transaction: Transaction = found[0]
    return transaction


@router.get("/api/transactions/{transaction_id}", responses=NOT_FOUND)
def get_transaction(transaction: VisibleTransaction, ledger: Ledger) -> TransactionDetail:
    """The transaction with the history of people's category changes."""
    with ledger.use() as book:
        changes = book.review.changes(transaction.company_id, transaction.id)
    return TransactionDetail(
        **TransactionView.of(transaction).model_dump(),
        changes=[CategoryChange.of(c) for c in changes],
    )


@router.patch(
    "/api/transactions/{transaction_id}",
    responses={**NOT_FOUND, 422: {"description": "The category is not an account of the company."}},
)
def correct_transaction(
    transaction: VisibleTransaction,
    body: Correction,
    principal: CurrentPrincipal,
    ledger: Ledger,
) -> Corrected:
    """A person's category (source `user`): booked, audited, learnt from by the next
    categorize job. The same correction again changes nothing (`changed: false`)."""
    try:
        with ledger.use() as book:
            done = book.review.correct(
                transaction.company_id, transaction.id, body.category, principal.subject
            )
    except UnknownAccountError as exc:
        raise HTTPException(http.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"category: {exc}") from exc
    if done is None:  # deleted meanwhile
        raise HTTPException(http.HTTP_404_NOT_FOUND, detail="transaction not found")
    corrected, changed = done
    return Corrected(**TransactionView.of(corrected).model_dump(), changed=changed)


@router.get("/api/companies/{company_id}/rule-suggestions", responses=COMPANY)
def rule_suggestions(company_id: OwnCompany, ledger: Ledger) -> list[RuleSuggestionView]:
    """Rules the company's corrections suggest: a merchant people categorized at least three
    times, always to one account, that no rule covers. Accept one with `POST .../rules`."""
    with ledger.use() as book:
        found = book.review.rule_suggestions(company_id)
    return [
        RuleSuggestionView(
            pattern=s.pattern,
            account_code=s.account_code,
            corrections=s.corrections,
            examples=s.examples,
        )
        for s in found
    ]


@router.get("/api/companies/{company_id}/rules", responses=COMPANY)
def list_rules(company_id: OwnCompany, ledger: Ledger) -> list[RuleView]:
    """The company's rules in the order they are tried (priority, then age)."""
    with ledger.use() as book:
        return [RuleView.of(rule) for rule in book.list_rules(company_id)]


@router.post(
    "/api/companies/{company_id}/rules",
    status_code=http.HTTP_201_CREATED,
    responses={
        **COMPANY,
        200: {"description": "The same rule exists already: it is answered."},
        422: {"description": "A field is wrong, or the account is not in the chart."},
    },
)
def add_rule(
    company_id: OwnCompany,
    body: NewRule,
    principal: CurrentPrincipal,
    ledger: Ledger,
    response: Response,
) -> RuleView:
    """Add a rule (applies from the next categorize job on); the same rule again is
    answered as it is (200), never added twice."""
    with ledger.use() as book:
        book.ensure_company(company_id, principal.tenant_id)
        for rule in book.list_rules(company_id):
            if (rule.kind, rule.pattern, rule.min_amount, rule.max_amount, rule.account_code) == (
                body.kind,
                body.pattern,
                body.min_amount,
                body.max_amount,
                body.account_code,
            ):
                response.status_code = http.HTTP_200_OK
                return RuleView.of(rule)
        try:
            rule = book.add_rule(
                company_id,
                kind=body.kind,
                account_code=body.account_code,
                pattern=body.pattern,
                min_amount=body.min_amount,
                max_amount=body.max_amount,
                priority=body.priority,
            )
        except ValueError as exc:
            field = "account_code" if "account" in str(exc) else "pattern"
            raise HTTPException(
                http.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{field}: {exc}"
            ) from exc
    return RuleView.of(rule)


@router.delete(
    "/api/companies/{company_id}/rules/{rule_id}",
    status_code=http.HTTP_204_NO_CONTENT,
    responses={**COMPANY, 404: problem("No such rule of the company.")},
)
def delete_rule(
    company_id: OwnCompany,
    rule_id: Annotated[int, PathParam(ge=1, le=MAX_RULE_ID)],
    ledger: Ledger,
) -> Response:
    """Remove a rule (from the next categorize job on)."""
    with ledger.use() as book:
        deleted = book.delete_rule(company_id, rule_id)
    if not deleted:
        raise HTTPException(http.HTTP_404_NOT_FOUND, detail=f"rule {rule_id} not found")
    return Response(status_code=http.HTTP_204_NO_CONTENT)
