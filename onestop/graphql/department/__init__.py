"""The department domain: departmentInbox, updateApplicationStatus and redeliverApplication, for staff of that
department only."""

from onestop.graphql.department.mutations import DepartmentMutation as Mutation
from onestop.graphql.department.queries import DepartmentQuery as Query

__all__ = ["Mutation", "Query"]
