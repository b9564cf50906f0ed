"""The REST contract's status fields (ARCHITECTURE.md), named once for every api test."""

JOB_VIEW_FIELDS = frozenset({
    "id", "status", "stage", "progress", "created_at", "updated_at", "options", "input",
    "engine", "metrics", "error", "result", "deletion", "timeline", "attempts",
})
