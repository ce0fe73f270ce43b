"""The default chart of accounts seeded for every new company (a small-business chart).

Codes follow the common numbering: 1xxx assets, 2xxx liabilities, 3xxx equity, 4xxx income,
5xxx-6xxx expenses. ``UNCATEGORIZED`` is where the categorizer puts what it cannot place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AccountKind = Literal["expense", "income", "asset", "liability", "equity"]

UNCATEGORIZED = "6999"


@dataclass(frozen=True)
class AccountSpec:
    code: str
    name: str
    kind: AccountKind


DEFAULT_CHART: tuple[AccountSpec, ...] = (
    AccountSpec("1000", "Cash", "asset"),
    AccountSpec("1010", "Checking Account", "asset"),
    AccountSpec("1020", "Savings Account", "asset"),
    AccountSpec("1200", "Accounts Receivable", "asset"),
    AccountSpec("1400", "Prepaid Expenses", "asset"),
    AccountSpec("1500", "Equipment", "asset"),
    AccountSpec("2000", "Accounts Payable", "liability"),
    AccountSpec("2100", "Credit Card", "liability"),
    AccountSpec("2200", "Sales Tax Payable", "liability"),
    AccountSpec("2300", "Payroll Liabilities", "liability"),
    AccountSpec("2700", "Loans Payable", "liability"),
    AccountSpec("3000", "Owner's Equity", "equity"),
    AccountSpec("3100", "Owner's Draw", "equity"),
    AccountSpec("3900", "Retained Earnings", "equity"),
    AccountSpec("4000", "Sales Revenue", "income"),
    AccountSpec("4100", "Service Revenue", "income"),
    AccountSpec("4200", "Interest Income", "income"),
    AccountSpec("4900", "Other Income", "income"),
    AccountSpec("5000", "Cost of Goods Sold", "expense"),
    AccountSpec("6000", "Advertising & Marketing", "expense"),
    AccountSpec("6010", "Bank Fees & Charges", "expense"),
    AccountSpec("6020", "Contractors", "expense"),
    AccountSpec("6030", "Dues & Subscriptions", "expense"),
    AccountSpec("6040", "Equipment & Tools", "expense"),
    AccountSpec("6050", "Insurance", "expense"),
    AccountSpec("6060", "Interest Expense", "expense"),
    AccountSpec("6070", "Legal & Professional Fees", "expense"),
    AccountSpec("6080", "Meals & Entertainment", "expense"),
    AccountSpec("6090", "Office Supplies", "expense"),
    AccountSpec("6100", "Payroll & Wages", "expense"),
    AccountSpec("6110", "Postage & Shipping", "expense"),
    AccountSpec("6120", "Rent & Lease", "expense"),
    AccountSpec("6130", "Repairs & Maintenance", "expense"),
    AccountSpec("6140", "Software", "expense"),
    AccountSpec("6150", "Taxes & Licenses", "expense"),
    AccountSpec("6160", "Telephone & Internet", "expense"),
    AccountSpec("6170", "Travel", "expense"),
    AccountSpec("6180", "Utilities", "expense"),
    AccountSpec("6190", "Vehicle & Fuel", "expense"),
    AccountSpec("6200", "Training & Education", "expense"),
    AccountSpec(UNCATEGORIZED, "Uncategorized", "expense"),
)
