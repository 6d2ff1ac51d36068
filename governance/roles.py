"""Roles: employee, compliance officer, administrator — Django groups, checked here and nowhere else.

- administrator: ``is_staff`` (Django admin); manages users, grants, API keys and policies; cannot change
  the audit trail (no admin change/delete for it, and the database trigger);
- compliance officer: member of the "Compliance officers" group; reads and exports the audit trail and
  verifies it; not an administrator;
- employee: everyone else; reads what their grants allow.
"""

from __future__ import annotations

from typing import Any

COMPLIANCE_GROUP = "Compliance officers"
EMPLOYEE_GROUP = "Employees"


def role_of(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return "anonymous"
    if is_admin(user):
        return "admin"
    if is_compliance_officer(user):
        return "compliance_officer"
    return "employee"


def is_admin(user: Any) -> bool:
    """Staff (the Django admin) or superuser."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_staff or user.is_superuser)


def is_compliance_officer(user: Any) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(user.groups.filter(name=COMPLIANCE_GROUP).exists())
