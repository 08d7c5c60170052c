"""Who may do what with a project: pure rules over a user and a project, no I/O.

- owners and admins manage a project: settings, imports, every task, answer and result, exports;
- any signed-in user may contribute to a *published* project: read it, be handed its tasks and
  submit answers, and read their own answers;
- anonymous callers may do nothing with project data.
"""

from __future__ import annotations

from typing import Protocol


class _User(Protocol):
    id: int
    admin: bool

    @property
    def is_authenticated(self) -> bool: ...


class _Project(Protocol):
    # read-only: a model, or a cached projects.refs.ProjectRef
    @property
    def owner_id(self) -> int: ...

    @property
    def published(self) -> bool: ...


def is_signed_in(user: _User | None) -> bool:
    return user is not None and bool(user.is_authenticated)


def can_manage(user: _User | None, project: _Project) -> bool:
    return is_signed_in(user) and (user.admin or user.id == project.owner_id)  # type: ignore[union-attr]


def can_create(user: _User | None) -> bool:
    """Create projects: admins, and users whose ``can_create_projects`` the identity
    provider's groups did not take away (labelhive.accounts.identity)."""
    return is_signed_in(user) and (user.admin or getattr(user, "can_create_projects", True))  # type: ignore[union-attr]


def can_see(user: _User | None, project: _Project) -> bool:
    """See that the project exists, its name, question and options."""
    return can_manage(user, project) or (is_signed_in(user) and project.published)


def can_contribute(user: _User | None, project: _Project) -> bool:
    """Be handed tasks and submit answers."""
    return can_see(user, project)


def can_review(user: _User | None, project: _Project, *, reviewer: bool) -> bool:
    """Work through the review queue and settle items: managers, and the users an owner made
    reviewers of the project (``reviewer``: the caller looked the role up)."""
    return can_manage(user, project) or (is_signed_in(user) and reviewer)
