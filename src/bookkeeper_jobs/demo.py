"""The demo tenant that ``make run`` (``bkjobs serve --demo``) creates on first start: a
company with a few categorization rules and an API key saved under the data directory."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from decimal import Decimal

from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.settings import Grant, Settings

DEMO_TENANT = "demo-tenant"
DEMO_COMPANY = "demo-company"
DEMO_RULES: tuple[tuple[str, str], ...] = (
    ("GUSTO PAYROLL", "6100"),
    ("GUSTO TAX", "2300"),
    ("OAKRIDGE PROPERTIES RENT", "6120"),
    ("SHELL OIL", "6190"),
    ("CHEVRON", "6190"),
    ("COMCAST", "6160"),
    ("AT&T", "6160"),
    ("PG&E", "6180"),
    ("WATER UTIL", "6180"),
    ("MONTHLY SERVICE FEE", "6010"),
    ("HARTFORD INSURANCE", "6050"),
    ("ACH DEPOSIT", "4100"),
    ("WIRE TRANSFER IN", "4100"),
    ("STRIPE TRANSFER", "4000"),
    ("ZOOM.US", "6140"),
    ("ADOBE", "6140"),
    ("GITHUB", "6140"),
    ("DELTA AIR", "6170"),
    ("MARRIOTT", "6170"),
    ("UBER", "6170"),
    ("LYFT", "6170"),
    ("STAPLES", "6090"),
    ("OFFICE DEPOT", "6090"),
    ("USPS", "6110"),
    ("FEDEX", "6110"),
    ("DOORDASH", "6080"),
    ("STARBUCKS", "6080"),
    ("AMAZON MKTPLACE", "6090"),
    ("COSTCO", "6090"),
    ("HOME DEPOT", "6130"),
    ("GOOGLE", "6140"),
    ("INTUIT", "6140"),
    ("INTEREST PAYMENT", "4200"),
)


@dataclass(frozen=True)
class Demo:
    api_key: str
    tenant_id: str = DEMO_TENANT
    company_id: str = DEMO_COMPANY


def ensure_demo(settings: Settings, ledger: Ledger) -> Demo:
    """Create the demo company and key once; later starts reuse them."""
    saved = settings.data_dir / "demo.json"
    if saved.exists():
        demo = Demo(**json.loads(saved.read_text()))
    else:
        demo = Demo(api_key=f"bkj_demo_{secrets.token_urlsafe(24)}")
        ledger.ensure_company(demo.company_id, demo.tenant_id, "Demo Company LLC")
        for priority, (pattern, account) in enumerate(DEMO_RULES):
            ledger.add_rule(
                demo.company_id,
                kind="contains",
                pattern=pattern,
                account_code=account,
                priority=priority,
            )
        ledger.add_rule(
            demo.company_id,
            kind="amount_range",
            min_amount=Decimal("0.01"),
            max_amount=Decimal("0.99"),
            account_code="4200",
            priority=len(DEMO_RULES),
        )
        saved.write_text(json.dumps(demo.__dict__))
        saved.chmod(0o600)
    return demo


def with_demo_key(settings: Settings, demo: Demo) -> Settings:
    grant = Grant(tenant_id=demo.tenant_id, company_ids=[demo.company_id])
    return settings.model_copy(update={"api_keys": {**settings.api_keys, demo.api_key: grant}})
