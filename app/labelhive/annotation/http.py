"""One HTTP status per refusal, for the labeling page and the API alike.

The API's statuses are PYBOSSA's contract (an unknown or mismatched task is 403 "Invalid
task_id/project_id"), so the page follows them.
"""

from __future__ import annotations

from labelhive.annotation.core import Refusal

STATUS = {
    Refusal.NO_ROOM: 409,
    Refusal.ALREADY_ANSWERED: 409,
    Refusal.INVALID_ANSWER: 400,
    Refusal.TASK_NOT_FOUND: 403,
    Refusal.WRONG_PROJECT: 403,
    Refusal.TASK_COMPLETED: 403,
    Refusal.PROJECT_NOT_FOUND: 404,
    Refusal.FORBIDDEN: 403,
}

# the PYBOSSA envelope's ``exception_cls`` of each status
EXCEPTION_CLASS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}
