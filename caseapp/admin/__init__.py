"""Administrator screens: accounts, communes' population, the audit trail."""
