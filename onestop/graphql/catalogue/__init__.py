"""The catalogue domain: services, taxonomy, departments, catalogue status."""

from onestop.graphql.catalogue.queries import CatalogueQuery as Query

__all__ = ["Query"]
