"""The reference web frontend: server-rendered pages over the GraphQL API, tokens kept server-side."""

from onestop.web.app import create_web_app
from onestop.web.config import WebConfig

__all__ = ["WebConfig", "create_web_app"]
