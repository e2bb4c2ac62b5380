"""The document service a process's settings describe: the store (local or S3) and the scanner (clamd or none)."""

from __future__ import annotations

from onestop.config import Settings
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import Database
from onestop.engine.documents.scanner import ClamdScanner, NoScanner, Scanner
from onestop.engine.documents.service import DocumentService
from onestop.engine.documents.stores import DocumentStore, LocalStore, S3Store


def build_documents(settings: Settings, database: Database, cipher: FieldCipher) -> DocumentService:
    store: DocumentStore
    if settings.documents_store == "s3":
        if not settings.documents_s3_bucket:
            raise ValueError("ONESTOP_DOCUMENTS_S3_BUCKET is required when ONESTOP_DOCUMENTS_STORE=s3")
        secret = settings.documents_s3_secret_key
        store = S3Store(
            settings.documents_s3_bucket,
            prefix=settings.documents_s3_prefix,
            endpoint_url=settings.documents_s3_endpoint,
            region=settings.documents_s3_region,
            access_key=settings.documents_s3_access_key,
            secret_key=secret.get_secret_value() if secret is not None else None,
        )
    else:
        store = LocalStore(settings.data_dir / "documents")
    scanner: Scanner = ClamdScanner(settings.clamd_address) if settings.clamd_address else NoScanner()
    return DocumentService(database, cipher, store, scanner)
