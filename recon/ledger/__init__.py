"""Ledger sources (CSV, XLSX, SQL), column mapping and row-level validation."""

from recon.ledger.load import LedgerLoad, load_ledger

__all__ = ["LedgerLoad", "load_ledger"]
