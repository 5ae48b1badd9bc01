"""Communes of the configured province and the former-district groups."""
