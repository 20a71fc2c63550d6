"""Exceptions of the lake contracts: a document that breaks its contract.

Fatal: the lake is immutable, so reading the same object again gives the same
answer; what it takes is a fix upstream (or a deliberate skip by an operator).
"""

from __future__ import annotations

from common.errors import FatalError


class ContractError(FatalError):
    """A lake object breaks the contract of docs/architecture.md."""


class ManifestError(ContractError):
    """An ingestion manifest (``runs/<seq>.json`` in the ingest bucket) is missing, unreadable or malformed."""


class CommitRecordError(ContractError):
    """A transform commit record, or an object it names, is missing, unreadable or malformed."""
