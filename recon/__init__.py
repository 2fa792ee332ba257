"""recon: nightly bank reconciliation (Plaid transactions vs the internal ledger)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("recon")
except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
    __version__ = "0.0.0+checkout"
