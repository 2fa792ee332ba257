"""Thin entry points for schedulers and operators; all logic lives in the ``recon`` package."""
