"""Indicators of the plan (DESIGN §5): periods, SQL aggregates, reports and anonymized exports."""
