"""What a user can do to an incident, once for the pages and the API (tenants.actions).

Each Action checks with alerts.policy, validates with the API's serializer (pages post the same
field names) and does the change through alerts.services, which writes the timeline, tells the
apps above (the SLA clocks) and publishes the event. alerts.views.incidents and alerts.api.views
only adapt requests and responses to these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from tenants.access import Access
from tenants.actions import Action, ActionError, Invalid, error_sentence
from tenants.models import Team, Tenant, User

from . import exports, extensions, observables, policy, services
from . import tlp as classification
from .api.serializers import (
    AssignSerializer,
    BulkSerializer,
    CommentCreateSerializer,
    ContainmentSerializer,
    CustomFieldValuesSerializer,
    MergeSerializer,
    NewIncidentSerializer,
    NewIncidentWithFilesSerializer,
    ObservableWriteSerializer,
    PromoteSerializer,
    TransitionSerializer,
)
from .intake.base import Observable
from .models import (
    Comment,
    ContainmentAction,
    Incident,
    IncidentObservable,
    IncidentStatus,
    ObservableSource,
    Origin,
    Visibility,
)

# The incident is the first, positional-only parameter of each `do`: the serializers' field
# names ("action", "target" of a containment) arrive as keywords beside it.

# --- the status ------------------------------------------------------------------------------


def _fields_required(access: Access | None, incident: Incident, status: str) -> None:
    """The tenant's custom fields required before an incident moves to `status` are filled in
    (cases.custom_fields, through alerts.extensions); else a 400 naming them."""
    provider = extensions.custom_fields()
    if provider is not None and status in IncidentStatus.values:
        provider.check_required(access, incident.tenant_id, incident.custom_fields, status=status)


def _acknowledge(incident: Incident, /, *, actor: User, access: Access, **_: Any) -> Incident:
    if incident.status == IncidentStatus.NEW:
        _fields_required(access, incident, IncidentStatus.ACKNOWLEDGED)
    return services.incident_acknowledge(incident, actor=actor)


def _transition(
    incident: Incident,
    /,
    *,
    actor: User,
    access: Access,
    status: str,
    reason: str = "",
    resolution: str = "",
    custom_fields: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    **_: Any,
) -> Incident:
    if custom_fields:  # the fields the new status needs, given with the move (one request)
        incident = _set_fields(
            incident, actor=actor, access=access, custom_fields=custom_fields, request=request
        )
    _fields_required(access, incident, status)
    return services.incident_transition(
        incident, status, actor=actor, reason=reason, resolution=resolution
    )


def _set_fields(
    incident: Incident,
    /,
    *,
    actor: User,
    access: Access,
    custom_fields: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    **_: Any,
) -> Incident:
    provider = extensions.custom_fields()
    if provider is None:
        if custom_fields:
            raise Invalid({"custom_fields": ["This portal has no custom fields."]})
        return incident
    changed: Incident = provider.set_values(
        incident, custom_fields or {}, access=access, actor=actor, request=request
    )
    return changed


ACKNOWLEDGE = Action(
    "acknowledge",
    do=_acknowledge,
    check=policy.check_work,
    done=lambda incident: f"Acknowledged: {incident.title}",
)
TRANSITION = Action(
    "transition",
    do=_transition,
    check=policy.check_work,
    serializer=TransitionSerializer,
    done=lambda incident: f"Status changed to {IncidentStatus(incident.status).label}.",
)
SET_CUSTOM_FIELDS = Action(
    "custom_fields",
    do=_set_fields,
    check=policy.check_work,
    serializer=CustomFieldValuesSerializer,
    done="Fields saved.",
)

# --- the owner -------------------------------------------------------------------------------


def _claim(incident: Incident, /, *, actor: User, **_: Any) -> Incident:
    return services.incident_assign(incident, actor=actor, owner=actor)


def assignee(incident: Incident, owner: str | None) -> User | None:
    """The user named to own `incident`, or None for nobody. Anyone who may not own it reads
    as unknown (no hint whether the name exists)."""
    if not owner:
        return None
    user = User.objects.filter(username=owner, is_active=True).first()
    if user is None or not policy.may_own(user, incident):
        raise Invalid({"owner": "No such user may work this incident."})
    return user


def owning_team(incident: Incident, team_id: UUID | None) -> Team | None:
    """The team named to own `incident`: the MSSP's or this tenant's, else unknown."""
    if not team_id:
        return None
    team: Team | None = (
        Team.objects.dangerously_unscoped("teams: MSSP or this tenant's")
        .filter(pk=team_id)
        .filter(Q(tenant__isnull=True) | Q(tenant_id=incident.tenant_id))
        .first()
    )
    if team is None:
        raise Invalid({"team": "No such team for this incident."})
    return team


def _assign(
    incident: Incident,
    /,
    *,
    actor: User,
    owner: str | None = None,
    team: UUID | None = None,
    **_: Any,
) -> Incident:
    return services.incident_assign(
        incident, actor=actor, owner=assignee(incident, owner), team=owning_team(incident, team)
    )


CLAIM = Action(
    "claim", do=_claim, check=policy.check_work, done=lambda incident: f"You own: {incident.title}"
)
ASSIGN = Action(
    "assign",
    do=_assign,
    check=policy.check_work,
    serializer=AssignSerializer,
    done=lambda incident: f"Assigned: {incident.title}",
)

# --- merge -----------------------------------------------------------------------------------


def _merge(incident: Incident, /, *, actor: User, into: UUID, **_: Any) -> Incident:
    """Merge into another incident of the same customer; any other reads as missing."""
    survivor = Incident.objects.for_tenant(incident.tenant_id).filter(pk=into).first()
    if survivor is None:
        raise Invalid({"into": "No such incident of this customer."})
    return services.incident_merge(incident, survivor, actor=actor)


MERGE = Action(
    "merge",
    do=_merge,
    check=policy.check_work,
    serializer=MergeSerializer,
    done=lambda survivor: f"Merged into: {survivor.title}",
)

# --- comments and containment ----------------------------------------------------------------


def _comment(
    incident: Incident,
    /,
    *,
    actor: User,
    access: Access,
    body: str,
    visibility: str = "",
    tlp: str = "",
    **_: Any,
) -> Comment:
    return services.incident_comment(
        incident,
        author=actor,
        body=body,
        visibility=policy.comment_visibility(access, visibility or None),
        tlp=classification.check_tlp(access, tlp or None),
    )


def _contain(incident: Incident, /, *, actor: User, **fields: Any) -> ContainmentAction:
    return services.incident_contain(
        incident,
        actor=actor,
        action=fields["action"],
        target=fields["target"],
        result=fields.get("result", "pending"),
        notes=fields.get("notes", ""),
    )


COMMENT = Action(
    "comment",
    do=_comment,
    check=policy.check_comment,
    serializer=CommentCreateSerializer,
    done=lambda comment: (
        "Comment added, internal: the customer does not see it."
        if comment.visibility == Visibility.INTERNAL
        else "Comment added, shared with the customer."
    ),
)
CONTAIN = Action(
    "contain",
    do=_contain,
    check=policy.check_work,
    serializer=ContainmentSerializer,
    done=lambda record: f"Containment recorded: {record.action} on {record.target}.",
)

# --- opening by hand, promoting alerts ------------------------------------------------------

NO_SUCH_TENANT = "No such customer among those you work."


def tenant_for_new_incident(access: Access, slug: str | None) -> Tenant:
    """The tenant a new incident is for: a customer's own (naming another is the same 400 as
    naming none that exists), or the one MSSP staff name among those they work."""
    if access.customer_tenant_id is not None:
        tenant = Tenant.objects.filter(pk=access.customer_tenant_id).first()
        if tenant is None or (slug and slug != tenant.slug):
            raise Invalid({"tenant": [NO_SUCH_TENANT]})
        return tenant
    if not slug:
        raise Invalid({"tenant": ["Name the customer this incident is for."]})
    tenant = Tenant.objects.filter(slug=slug, pk__in=access.tenant_ids).first()
    if tenant is None:
        raise Invalid({"tenant": [NO_SUCH_TENANT]})
    return tenant


def _open(
    tenant: Tenant,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    **fields: Any,
) -> Incident:
    fields.pop("tenant", None)
    fields["tlp"] = classification.check_tlp(access, fields.pop("tlp", None))
    fields["pap"] = classification.check_pap(access, fields.pop("pap", None))
    given = fields.pop("custom_fields", None) or {}
    provider = extensions.custom_fields()
    if provider is not None:
        # Validated, and what the category requires checked, before anything is opened.
        values = provider.clean_values(access, tenant.pk, given)
        provider.check_required(
            access,
            tenant.pk,
            values,
            status=IncidentStatus.NEW,
            category=(fields.get("category") or "").strip().lower(),
        )
    elif given:
        raise Invalid({"custom_fields": ["This portal has no custom fields."]})
    incident = services.incident_open(
        tenant,
        actor=actor,
        origin=Origin.ANALYST if access.is_mssp_staff else Origin.CUSTOMER,
        request=request,
        **fields,
    )
    if given:
        incident = _set_fields(
            incident, actor=actor, access=access, custom_fields=given, request=request
        )
    return incident


def _promote(
    incident: Incident,
    /,
    *,
    actor: User,
    alerts: list[UUID],
    request: HttpRequest | None = None,
    **_: Any,
) -> Incident:
    incident, _moved = services.incident_promote_alerts(
        incident, alerts, actor=actor, request=request
    )
    return incident


# Its target is the tenant (tenant_for_new_incident): the page and the API resolve it alike.
OPEN_INCIDENT = Action(
    "open_incident",
    do=_open,
    check=policy.check_open_incident,
    serializer=NewIncidentSerializer,
    done=lambda incident: f"Incident opened: {incident.title}",
)
PROMOTE = Action(
    "promote",
    do=_promote,
    check=policy.check_promote,
    serializer=PromoteSerializer,
    done=lambda incident: f"Alerts added to: {incident.title}",
)


def _open_with_files(
    tenant: Tenant,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    attachments: list[Any] | None = None,
    attachment_visibility: str = "",
    **fields: Any,
) -> Incident:
    """The raise form: the incident and its files, in one transaction. The files are checked
    against the customer's limits before anything is opened, and kept by the evidence path
    (alerts.extensions.incident_files): one refused, nothing is opened and nothing stored."""
    files = list(attachments or [])
    keeper = extensions.incident_files()
    if files and keeper is None:
        raise Invalid({"attachments": ["This portal keeps no files."]})
    if keeper is not None and files:
        keeper.check(access, tenant.pk, files)
    incident = _open(tenant, actor=actor, access=access, request=request, **fields)
    if keeper is not None and files:
        keeper.attach(
            incident,
            files,
            actor=actor,
            access=access,
            request=request,
            visibility=attachment_visibility,
        )
    return incident


OPEN_INCIDENT_WITH_FILES = Action(
    "open_incident",
    do=_open_with_files,
    check=policy.check_open_incident,
    serializer=NewIncidentWithFilesSerializer,
    done=lambda incident: f"Incident opened: {incident.title}",
)

# --- many incidents at once ------------------------------------------------------------------

NOT_FOUND = "Not found."


@dataclass
class BulkOutcome:
    incident_id: UUID
    incident: Incident | None = None  # None: the caller cannot see it (or it does not exist)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class BulkResult:
    action: str
    outcomes: list[BulkOutcome] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(outcome.ok for outcome in self.outcomes)


def _bulk(
    visible: QuerySet[Incident],
    /,
    *,
    actor: User,
    access: Access,
    ids: list[UUID],
    action: str,
    **fields: Any,
) -> BulkResult:
    """One action on each of `ids` among the `visible` incidents, each in its own savepoint so
    that one refused or invalid leaves the others done; an id the caller cannot see reports
    'not found', exactly like one that does not exist."""
    found = {incident.pk: incident for incident in visible.filter(pk__in=ids)}
    result = BulkResult(action)
    for incident_id in ids:
        outcome = BulkOutcome(incident_id, found.get(incident_id))
        result.outcomes.append(outcome)
        if outcome.incident is None:
            outcome.error = NOT_FOUND
            continue
        try:
            policy.check_work(access, outcome.incident)
            if action == "transition":
                _fields_required(access, outcome.incident, fields.get("status", ""))
            elif action == "acknowledge" and outcome.incident.status == IncidentStatus.NEW:
                _fields_required(access, outcome.incident, IncidentStatus.ACKNOWLEDGED)
            with transaction.atomic():
                _bulk_one(outcome.incident, action, actor=actor, **fields)
        except ActionError as exc:
            outcome.error = error_sentence(exc.detail)
    return result


def _bulk_one(incident: Incident, action: str, *, actor: User, **fields: Any) -> None:
    owner = assignee(incident, fields.get("owner")) if action == "assign" else None
    services.incident_bulk_action(
        incident,
        action,
        actor=actor,
        owner=owner,
        status=fields.get("status", ""),
        reason=fields.get("reason", ""),
        resolution=fields.get("resolution", ""),
    )


# Its target is the incidents the caller sees; each one is checked as it comes.
BULK = Action(
    "bulk",
    do=_bulk,
    serializer=BulkSerializer,
    done=lambda result: f"{result.action.capitalize()}: {result.done} incident(s) done.",
)

# --- observables -----------------------------------------------------------------------------


def _add_observable(
    incident: Incident,
    /,
    *,
    actor: User,
    access: Access,
    observable: Observable,
    tag: str = "",
    note: str = "",
    visibility: str = "",
    tlp: str = "",
    pap: str = "",
    request: HttpRequest | None = None,
    **_: Any,
) -> IncidentObservable:
    if tag:
        policy.observable_tag(access, incident, "", tag)
    return observables.observable_add(
        incident,
        actor=actor,
        observable=observable,
        source=ObservableSource.ANALYST if access.is_mssp_staff else ObservableSource.CUSTOMER,
        visibility=policy.observable_visibility(access, visibility or None),
        tag=tag,
        note=note,
        tlp=classification.check_tlp(access, tlp or None),
        pap=classification.check_pap(access, pap or None),
        request=request,
    )


def _edit_observable(
    row: IncidentObservable,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    **fields: Any,
) -> IncidentObservable:
    observable_incident = row.incident
    changes: dict[str, Any] = {}
    if "tag" in fields:
        changes["tag"] = policy.observable_tag(access, row.incident, row.tag, fields["tag"])
    if "note" in fields and fields["note"] != row.note:
        policy.observable_note(access, row)
        changes["note"] = fields["note"]
    if "visibility" in fields and fields["visibility"] != row.visibility:
        if not access.is_mssp_staff:
            raise Invalid({"visibility": ["Customers' observables are shared."]})
        if row.source == ObservableSource.CUSTOMER:
            raise Invalid({"visibility": ["The customer added it: it stays shared."]})
        changes["visibility"] = fields["visibility"]
    row = observables.observable_update(row, actor=actor, request=request, **changes)
    if fields.get("tlp") or fields.get("pap"):
        # A customer classifies only what its organisation added (alerts.tlp).
        mssp = row.source != ObservableSource.CUSTOMER
        new_tlp = fields.get("tlp") or None
        new_pap = fields.get("pap") or None
        row.incident = observable_incident
        row = services.item_classify(
            row,
            incident=observable_incident,
            actor=actor,
            tlp=classification.check_tlp(access, new_tlp, current=row.tlp, mssp_authored=mssp)
            if new_tlp
            else None,
            pap=classification.check_pap(access, new_pap, current=row.pap, mssp_authored=mssp)
            if new_pap
            else None,
            request=request,
        )
    return row


def _remove_observable(
    row: IncidentObservable, /, *, actor: User, request: HttpRequest | None = None, **_: Any
) -> IncidentObservable:
    return observables.observable_remove(row, actor=actor, request=request)


ADD_OBSERVABLE = Action(
    "observable.add",
    do=_add_observable,
    check=policy.check_add_observable,
    serializer=ObservableWriteSerializer,
    done=lambda row: (
        f"Observable added: {row.type} {row.value[:80]}"
        + (" (internal: the customer does not see it)." if row.visibility == "internal" else ".")
    ),
)
EDIT_OBSERVABLE = Action(
    "observable.edit",
    do=_edit_observable,
    check=policy.check_change_observable,
    serializer=ObservableWriteSerializer,
    changes_target=True,
    done=lambda row: f"Observable saved: {row.type} {row.value[:80]}",
)
REMOVE_OBSERVABLE = Action(
    "observable.remove",
    do=_remove_observable,
    check=policy.check_remove_observable,
    done=lambda row: f"Observable removed: {row.type} {row.value[:80]}",
)


# --- the incident export (alerts.exports) ------------------------------------------------------

EXPORT_INCIDENTS = Action(
    "incidents.export",
    do=exports.export_plan,
    check=exports.check_export,
    serializer=exports.IncidentExportSerializer,
    step_up=True,  # an export of the tenant's data: a recent second factor (tenants.mfa)
)
