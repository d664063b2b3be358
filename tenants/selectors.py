"""Reads of the tenants app that several callers share."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .models import User


def get_staff_accounts() -> models.QuerySet[User]:
    """MSSP staff: a staff role, or a superuser (the staff API and the staff sessions page)."""
    return User.objects.filter(Q(staff_role__gt="") | Q(is_superuser=True))
