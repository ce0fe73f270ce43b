// The default chart of accounts every new company gets (src/bookkeeper_jobs/ledger/accounts.py):
// offered in the category inputs and used to name codes. A company's own codes are typed in;
// the API checks every code against the company's chart (422 otherwise).
export const DEFAULT_ACCOUNTS: ReadonlyArray<readonly [code: string, name: string]> = [
  ["1000", "Cash"],
  ["1010", "Checking Account"],
  ["1020", "Savings Account"],
  ["1200", "Accounts Receivable"],
  ["1400", "Prepaid Expenses"],
  ["1500", "Equipment"],
  ["2000", "Accounts Payable"],
  ["2100", "Credit Card"],
  ["2200", "Sales Tax Payable"],
  ["2300", "Payroll Liabilities"],
  ["2700", "Loans Payable"],
  ["3000", "Owner's Equity"],
  ["3100", "Owner's Draw"],
  ["3900", "Retained Earnings"],
  ["4000", "Sales Revenue"],
  ["4100", "Service Revenue"],
  ["4200", "Interest Income"],
  ["4900", "Other Income"],
  ["5000", "Cost of Goods Sold"],
  ["6000", "Advertising & Marketing"],
  ["6010", "Bank Fees & Charges"],
  ["6020", "Contractors"],
  ["6030", "Dues & Subscriptions"],
  ["6040", "Equipment & Tools"],
  ["6050", "Insurance"],
  ["6060", "Interest Expense"],
  ["6070", "Legal & Professional Fees"],
  ["6080", "Meals & Entertainment"],
  ["6090", "Office Supplies"],
  ["6100", "Payroll & Wages"],
  ["6110", "Postage & Shipping"],
  ["6120", "Rent & Lease"],
  ["6130", "Repairs & Maintenance"],
  ["6140", "Software"],
  ["6150", "Taxes & Licenses"],
  ["6160", "Telephone & Internet"],
  ["6170", "Travel"],
  ["6180", "Utilities"],
  ["6190", "Vehicle & Fuel"],
  ["6200", "Training & Education"],
  ["6999", "Uncategorized"],
];

const NAMES = new Map(DEFAULT_ACCOUNTS);

/** "6140 Software" for a code of the default chart, the code alone otherwise. */
export function accountLabel(code: string | null | undefined): string {
  if (!code) return "";
  const name = NAMES.get(code);
  return name ? `${code} ${name}` : code;
}
