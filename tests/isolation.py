"""The generated isolation matrix: every API route of the URL conf, every method, attacked by
callers of tenant A with tenant B's objects.

Routes are found by walking the URL conf, not listed by hand. What the matrix needs to know is
per *model*: how to find tenant B's object of the model a view serves (`B_OBJECTS`). A route
whose view serves a model the matrix does not know makes `isolation_routes()` raise, so a new
endpoint over a new model fails the suite until its isolation case exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

API_PREFIX = "api/v1/"

# Routes that carry no tenant data at all, each with the reason.
PUBLIC_ROUTES = {
    "api/v1/auth/token/": "exchanges credentials for the caller's own token; no tenant data",
    # Authenticated by an intake key, which alone decides the tenant; nothing in the path or
    # body can name one. Its isolation is tested in tests/intake/test_intake_api.py
    # (test_a_key_only_ever_writes_into_its_own_tenant and the key tests around it).
    "api/v1/intake/<str:source>/": "intake key decides the tenant; see test_intake_api.py",
}


class MissingIsolationCase(AssertionError):
    """An API route the isolation matrix cannot attack (its model has no B-object finder)."""


@dataclass
class Route:
    path: str  # the pattern as text, e.g. api/v1/^tenants/(?P<tenant_slug>...)/members/$
    view: type
    methods: list[str]
    params: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", self.path)
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
        return path.replace("^", "").replace("$", "")

    @property
    def model(self):
        return getattr(self.view, "scoped_model", None)

    @property
    def object_param(self) -> str | None:
        for name in ("pk", "slug"):
            if name in self.params:
                return name
        return None

    def url(self, **values: Any) -> str:
        path = self.path
        for name in self.params:
            path = re.sub(rf"\(\?P<{name}>[^)]*\)", str(values[name]), path)
            path = re.sub(rf"<(?:\w+:)?{name}>", str(values[name]), path)
        return "/" + path.replace("^", "").replace("$", "")


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def api_routes(urlpatterns=None) -> list[Route]:
    patterns = urlpatterns if urlpatterns is not None else get_resolver().url_patterns
    routes = []
    for path, pattern in _walk(patterns):
        if not path.startswith(API_PREFIX):
            continue
        callback = pattern.callback
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        actions = getattr(callback, "actions", None)
        if actions:
            methods = sorted(m.upper() for m in actions if m in view.http_method_names)
        else:
            methods = sorted(
                m.upper() for m in view.http_method_names if hasattr(view, m) and m != "options"
            )
        params = re.findall(r"\(\?P<(\w+)>", path) + re.findall(r"<(?:\w+:)?(\w+)>", path)
        routes.append(Route(path=path, view=view, methods=methods, params=params))
    return routes


def isolation_routes(b_objects: dict[type, Callable], urlpatterns=None) -> list[Route]:
    """Every API route the matrix attacks; raises MissingIsolationCase for one it cannot."""
    routes, missing = [], []
    for route in api_routes(urlpatterns):
        if route.path.replace("^", "").replace("$", "") in PUBLIC_ROUTES:
            continue
        model = route.model
        needs_object = route.object_param is not None
        if needs_object and model not in b_objects:
            missing.append(f"{route.id} ({route.view.__name__} over {model})")
            continue
        if model is None and route.params:
            missing.append(f"{route.id} ({route.view.__name__} names no scoped_model)")
            continue
        routes.append(route)
    if missing:
        raise MissingIsolationCase(
            "No isolation case for: "
            + "; ".join(missing)
            + ". Add the model's tenant-B object to tests/test_isolation_matrix.py B_OBJECTS."
        )
    return routes


def string_values(data: Any) -> set[str]:
    """Every scalar in a JSON document, as text (ids, slugs, usernames ...)."""
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            found.add(str(key))
            found |= string_values(value)
    elif isinstance(data, list):
        for item in data:
            found |= string_values(item)
    elif data is not None:
        found.add(str(data))
    return found


def cross_tenant_references() -> list[str]:
    """Rows whose foreign key points at another tenant's row: must always be none.

    Walks every tenant-related model and each of its foreign keys to another tenant-related
    model (or to Tenant, besides `tenant` itself), and asks the database for mismatches."""
    from django.db import models

    from tenants.models import Tenant
    from tenants.rls import rls_bypass, tenant_related_models

    related = set(tenant_related_models())
    problems = []
    with rls_bypass("test: cross-tenant reference check"):
        for model in related:
            for field in model._meta.get_fields():
                if not isinstance(field, models.ForeignKey) or field.name == "tenant":
                    continue
                target = field.related_model
                if target is Tenant:
                    mismatch = models.Q(**{f"{field.name}__isnull": False}) & ~models.Q(
                        **{field.name: models.F("tenant")}
                    )
                elif target in related:
                    mismatch = models.Q(**{f"{field.name}__isnull": False}) & ~models.Q(
                        **{f"{field.name}__tenant": models.F("tenant")}
                    )
                else:
                    continue
                rows = model.objects.dangerously_unscoped("check").filter(mismatch)
                if target is not Tenant and (
                    model._meta.get_field("tenant").null or target._meta.get_field("tenant").null
                ):
                    # a row of the MSSP's own (no tenant) may be pointed at from any tenant:
                    # a global indicator's matches, a default SLA contract
                    rows = rows.exclude(**{f"{field.name}__tenant__isnull": True})
                if rows.exists():
                    problems.append(f"{model._meta.label}.{field.name}")
    return problems


def body_of_b_values(schema: dict, components: dict, b: dict[str, Any]) -> dict[str, Any]:
    """A request body whose every property names tenant B's things, by the property's type."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    body: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        if prop.get("readOnly"):
            continue
        if "$ref" in prop or "allOf" in prop:
            ref = prop.get("$ref") or prop["allOf"][0].get("$ref", "")
            target = components.get(ref.rsplit("/", 1)[-1], {})
            body[name] = (target.get("enum") or [b["slug"]])[0]
            continue
        kind, fmt = prop.get("type"), prop.get("format")
        if kind == "array":
            item = prop.get("items", {})
            body[name] = list(b["uuids"]) if item.get("format") == "uuid" else [b["slug"]]
        elif fmt == "uuid":
            body[name] = b["uuid"]
        elif kind == "integer":
            body[name] = b["pk"]
        elif "enum" in prop:
            body[name] = prop["enum"][0]
        elif fmt == "email":
            body[name] = "attacker@example.com"
        elif kind == "boolean":
            body[name] = False
        elif kind == "string":
            body[name] = b["slug"]
    return body
