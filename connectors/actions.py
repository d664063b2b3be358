"""What a user can do with a tenant's connectors and with the enrichment of an observable, for
the settings pages (connectors.views) and the API (connectors.api.views) alike
(tenants.actions explains the split). Every change is audited; no audit entry, answer or log
excerpt carries a secret. Adding, changing and deleting a connector are dangerous (they hold
the keys to a customer's tools): a session needs a recent second factor (tenants.mfa)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from alerts.models import IncidentObservable
from tenants import audit
from tenants.access import Access
from tenants.actions import Action, Invalid, Refused
from tenants.jobs import enqueue
from tenants.models import Tenant, User
from tenants.sealed import hint, seal, unseal

from . import kinds, policy
from .api.serializers import ConnectorInputSerializer, ConnectorSerializer, EnrichRequestSerializer
from .enrichment import Run, enrich
from .http import ConnectorClient, ConnectorError
from .models import Connector

logger = logging.getLogger("mssp.connectors")


def _tenant_id(target: Tenant | Connector) -> int:
    return target.pk if isinstance(target, Tenant) else target.tenant_id


def check_manage(access: Access, target: Tenant | Connector) -> None:
    if not policy.may_manage(access, _tenant_id(target)):
        raise Refused(policy.REFUSED_CHANGE)


def check_see(access: Access, target: Connector) -> None:
    if not policy.may_see(access, target.tenant_id):
        raise Refused("You may not use this tenant's connectors.")


def _audit(verb: str, connector: Connector, request: HttpRequest | None, **extra: Any) -> None:
    audit.record(
        f"connector.{verb}",
        tenant=connector.tenant_id,
        obj=connector,
        request=request,
        summary=f"connector {connector} {verb}",
        data={**dict(ConnectorSerializer(connector).data), **extra},
    )


def _sealed(secrets: dict[str, str]) -> tuple[str, str]:
    shown = next((v for v in secrets.values() if v), "")
    return seal(secrets), (hint(shown) if shown else "")


def _check_name(tenant_id: int, name: str, exclude: Any = None) -> None:
    rows = Connector.objects.for_tenant(tenant_id).filter(name=name)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    if rows.exists():
        raise Invalid({"name": ["This tenant already has a connector of that name."]})


def create_connector(
    tenant: Tenant,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    secrets: dict[str, str],
    **fields: Any,
) -> Connector:
    _check_name(tenant.pk, fields["name"])
    sealed, shown = _sealed(secrets)
    connector: Connector = Connector.objects.create(
        tenant=tenant,
        created_by=actor if getattr(actor, "pk", None) else None,
        sealed_secrets=sealed,
        secret_hint=shown,
        **fields,
    )
    _audit("created", connector, request, secrets_given=sorted(secrets))
    return connector


def update_connector(
    connector: Connector,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    secrets: dict[str, str],
    **fields: Any,
) -> Connector:
    fields.pop("kind", None)
    if "name" in fields:
        _check_name(connector.tenant_id, fields["name"], exclude=connector.pk)
    for name, value in fields.items():
        setattr(connector, name, value)
    if secrets:  # those given replace theirs; the others are kept
        kept = unseal(connector.sealed_secrets)
        connector.sealed_secrets, connector.secret_hint = _sealed({**kept, **secrets})
    if secrets or "base_url" in fields:  # a new key or address: the last test says nothing
        connector.last_tested_at, connector.last_test_ok = None, None
        connector.last_test_message = ""
    connector.updated_at = timezone.now()
    connector.save()
    _audit("updated", connector, request, secrets_given=sorted(secrets))
    return connector


def delete_connector(
    connector: Connector, *, actor: User, access: Access, request: HttpRequest | None
) -> Connector:
    _audit("deleted", connector, request)  # while it still has its id
    connector.delete()
    return connector


def test_connector(
    connector: Connector, *, actor: User, access: Access, request: HttpRequest | None
) -> Connector:
    """Ask the tool whether it accepts the connector's address and credentials (its kind's
    test hook); the answer is stored on the connector (last_test_*) and audited."""
    spec = kinds.spec(connector.kind)
    ok: bool | None
    if spec.test is None:
        ok, message = None, f"There is no connection test for {spec.label} yet."
    else:
        client = ConnectorClient(connector, purpose="test", actor=actor)
        try:
            ok, message = True, spec.test(client)
        except ConnectorError as exc:
            ok, message = False, exc.message
        except Exception:  # a hook's bug or an answer it could not read: a message, not a 500
            logger.exception("connection test of connector %s failed", connector.pk)
            ok, message = False, f"{connector.name}: the portal could not read the tool's answer."
        message = client.redacted(message)
    connector.last_tested_at = timezone.now()
    connector.last_test_ok = ok
    connector.last_test_message = message[:500]
    connector.save(update_fields=["last_tested_at", "last_test_ok", "last_test_message"])
    audit.record(
        "connector.tested",
        tenant=connector.tenant_id,
        obj=connector,
        request=request,
        summary=f"connector {connector} tested: {'ok' if ok else 'failed'}",
        data={"ok": ok, "message": connector.last_test_message},
    )
    return connector


CONNECTOR_CREATE = Action(
    "connector.create",
    do=create_connector,
    check=check_manage,
    serializer=ConnectorInputSerializer,
    done=lambda connector: f"Connector '{connector.name}' added.",
    step_up=True,
)
CONNECTOR_UPDATE = Action(
    "connector.update",
    do=update_connector,
    check=check_manage,
    serializer=ConnectorInputSerializer,
    changes_target=True,
    done=lambda connector: f"Connector '{connector.name}' saved.",
    step_up=True,
)
CONNECTOR_DELETE = Action(
    "connector.delete",
    do=delete_connector,
    check=check_manage,
    done=lambda connector: f"Connector '{connector.name}' removed.",
    step_up=True,
)
CONNECTOR_TEST = Action(
    "connector.test",
    do=test_connector,
    check=check_see,
    done=lambda connector: connector.last_test_message or "Tested.",
)


# --- enrichment --------------------------------------------------------------------------------
def check_enrich(access: Access, observable: IncidentObservable) -> None:
    if not policy.may_enrich(access, observable.tenant_id):
        raise Refused(policy.REFUSED_ENRICH)


def enrich_now_or_later(
    observable: IncidentObservable,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    connectors: list[Any] | None = None,
    refresh: bool = False,
) -> Run | None:
    """At once where tasks run in the process (the embedded mode, the tests); otherwise a task
    after commit (None: queued)."""
    if connectors is not None:
        own = {
            str(pk)
            for pk in Connector.objects.for_tenant(observable.tenant_id).values_list(
                "pk", flat=True
            )
        }
        if not {str(c) for c in connectors} <= own:
            raise Invalid({"connectors": ["No such connector of this incident's tenant."]})
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return enrich(
            observable, actor=actor, connector_ids=connectors, refresh=refresh, request=request
        )
    enqueue(
        "connectors.tasks.enrich_observable",
        observable.tenant_id,
        str(observable.pk),
        getattr(actor, "pk", None),
        [str(c) for c in connectors] if connectors is not None else None,
        refresh,
    )
    return None


ENRICH = Action(
    "observable.enrich",
    do=enrich_now_or_later,
    check=check_enrich,
    serializer=EnrichRequestSerializer,
    done=lambda run: "Enriched." if run is not None else "Enrichment queued.",
)
