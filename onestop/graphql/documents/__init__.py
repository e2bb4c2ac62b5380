"""The documents domain: removeDocument; an application's files are read through Application.documents, and
uploaded and downloaded over HTTP (``http.py``: POST /documents, GET /documents/{id})."""

from onestop.graphql.documents.mutations import DocumentsMutation as Mutation

__all__ = ["Mutation"]
