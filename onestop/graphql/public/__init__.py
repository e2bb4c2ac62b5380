"""The public domain: information anyone may read without logging in."""

from onestop.graphql.public.queries import PublicQuery as Query

__all__ = ["Query"]
