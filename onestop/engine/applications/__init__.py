"""Applications: the service GraphQL calls, applicants, pinned snapshots, the worker's activities, delivery
and the application index."""
