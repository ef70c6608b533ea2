"""The store's flows are driven by :mod:`multivec._flow` (shared with the Infinity client); re-exported here."""

from multivec._flow import Flow, run_async, run_sync

__all__ = ["Flow", "run_async", "run_sync"]
