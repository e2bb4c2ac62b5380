"""Documents citizens upload for file fields: content sniffing, sealed stores (local, S3), malware scanning,
delivery with the submission and deletion when the retention ends."""

from onestop.engine.documents.kinds import sniff
from onestop.engine.documents.scanner import (
    ClamdScanner,
    NoScanner,
    Scanner,
    ScannerUnavailable,
    ScanResult,
    ScanStatus,
)
from onestop.engine.documents.service import Document, DocumentService, attached_ids
from onestop.engine.documents.stores import DocumentStore, LocalStore, S3Store, seal, unseal
from onestop.engine.documents.wiring import build_documents

__all__ = [
    "ClamdScanner",
    "Document",
    "DocumentService",
    "DocumentStore",
    "LocalStore",
    "NoScanner",
    "S3Store",
    "ScanResult",
    "ScanStatus",
    "Scanner",
    "ScannerUnavailable",
    "attached_ids",
    "build_documents",
    "seal",
    "sniff",
    "unseal",
]
