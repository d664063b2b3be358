"""A tenant's custom fields on incidents: the one place their values are validated, required,
shown and written.

Every write path calls in here: opening an incident by hand (customer-raised or an analyst's),
changing its fields (the incident page's card, POST /incidents/{id}/custom-fields/) and moving
it to a status (alerts.actions, through alerts.extensions so that alerts imports nothing of
cases). Values are stored on the incident by field key (Incident.custom_fields):

    text    a string, at most MAX_TEXT characters
    number  a finite number within +/- MAX_NUMBER (an integer when it is whole)
    choice  one of the field's choices
    date    an ISO date, "YYYY-MM-DD"
    user    a username: an active member of the incident's tenant, or MSSP staff

A field that is not `customer_visible` is the MSSP's: a customer neither reads nor writes it,
and naming one reads exactly like naming a field that does not exist."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import Incident, IncidentEvent, IncidentStatus, Visibility
from tenants import audit, events
from tenants.access import Access
from tenants.actions import Invalid, Refused
from tenants.models import Membership, Tenant, User
from tenants.text import single_line

from .models import CustomField, FieldType, LibraryField

MAX_TEXT = 5_000
MAX_NUMBER = 1e15
MAX_CHOICES = 100
MAX_CHOICE_LENGTH = 100
MAX_FIELDS = 50  # definitions a tenant may have, archived ones included
KEY_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")  # no "__": it is a lookup separator
KEY_RULE = "Lower-case letters, digits and single underscores, starting with a letter."
UNKNOWN = "No such field for this customer."
MANAGE_REFUSED = (
    "Custom fields are managed by MSSP leads, managers and admins, and by the customer's admins."
)
INTERNAL_FOR_STAFF = "Only MSSP staff define internal fields."


# --- definitions ---------------------------------------------------------------------------


def definitions(tenant_id: int, *, staff: bool, archived: bool = True) -> list[CustomField]:
    """A tenant's fields in their order; a customer's view leaves the MSSP's internal ones
    out."""
    fields = CustomField.objects.for_tenant(tenant_id)
    if not staff:
        fields = fields.filter(customer_visible=True)
    if not archived:
        fields = fields.filter(is_archived=False)
    return list(fields.order_by("position", "label", "id"))


def definitions_for(tenant_ids: Iterable[int], *, staff: bool) -> dict[int, list[CustomField]]:
    """Several tenants' fields at once (a page of incidents of many customers): one query."""
    found: dict[int, list[CustomField]] = {}
    ids = sorted(set(tenant_ids))
    if not ids:
        return found
    fields = CustomField.objects.for_tenants(ids)
    if not staff:
        fields = fields.filter(customer_visible=True)
    for field in fields.order_by("position", "label", "id"):
        found.setdefault(field.tenant_id, []).append(field)
    return found


def may_manage(access: Access, tenant_id: int) -> bool:
    """MSSP leads, managers and admins for the tenants they see; a customer's admins for their
    own tenant (its customer-visible fields)."""
    if tenant_id not in access.tenant_ids:
        return False
    if access.is_mssp_staff:
        return access.is_supervisor
    return access.is_customer_admin and access.customer_tenant_id == tenant_id


def check_manage(access: Access, target: CustomField | Tenant) -> None:
    tenant_id = target.tenant_id if isinstance(target, CustomField) else target.pk
    if not may_manage(access, tenant_id):
        raise Refused(MANAGE_REFUSED)
    if isinstance(target, CustomField) and not target.customer_visible:
        if not access.is_mssp_staff:
            raise Refused(MANAGE_REFUSED)  # never reached through a lookup: they cannot see it


def clean_choices(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise Invalid({"choices": ["A list of values."]})
    if len(value) > MAX_CHOICES:
        raise Invalid({"choices": [f"At most {MAX_CHOICES} choices."]})
    cleaned: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise Invalid({"choices": ["Each choice is a short text."]})
        text = single_line(item, MAX_CHOICE_LENGTH + 1)
        if not text:
            continue
        if len(text) > MAX_CHOICE_LENGTH:
            raise Invalid({"choices": [f"A choice is at most {MAX_CHOICE_LENGTH} characters."]})
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


def clean_categories(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 100:
        raise Invalid({"required_for_categories": ["A list of at most 100 categories."]})
    found: list[str] = []
    for item in value:
        if not isinstance(item, str) or not re.fullmatch(r"[\w .-]{1,100}", item.strip()):
            raise Invalid(
                {"required_for_categories": ["Categories: letters, digits, ' ', '_', '-', '.'."]}
            )
        category = item.strip().lower()
        if category not in found:
            found.append(category)
    return found


def clean_statuses(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise Invalid({"required_for_statuses": ["A list of statuses."]})
    found: list[str] = []
    for item in value:
        if item not in IncidentStatus.values:
            raise Invalid(
                {
                    "required_for_statuses": [
                        f"'{str(item)[:40]}' is not a status; one of "
                        f"{', '.join(IncidentStatus.values)}."
                    ]
                }
            )
        if item not in found:
            found.append(item)
    return found


def in_use(field: CustomField) -> bool:
    """Some incident of its tenant holds a value under its key."""
    return (
        Incident.objects.for_tenant(field.tenant_id)
        .filter(custom_fields__has_key=field.key)
        .exists()
    )


def _definition_summary(field: CustomField, what: str) -> str:
    # The customer's admins read their tenant's audit log: an internal field is never named.
    if not field.customer_visible:
        return f"an internal custom field was {what}"
    return f"custom field '{field.label}' ({field.key}) {what}"


def save_definition(
    field: CustomField,
    changes: Mapping[str, Any],
    *,
    access: Access,
    actor: User | None,
    request=None,
) -> CustomField:
    """Create (no pk in the database yet) or change a definition: the key is fixed once an
    incident holds a value, the type too; a customer never makes a field internal."""
    created = field._state.adding
    if not created and "key" in changes and changes["key"] != field.key and in_use(field):
        raise Invalid({"key": ["Incidents hold values under this key: it cannot change."]})
    if not created and "type" in changes and changes["type"] != field.type and in_use(field):
        raise Invalid({"type": ["Incidents hold values of this field: its type cannot change."]})
    if changes.get("customer_visible") is False and not access.is_mssp_staff:
        raise Invalid({"customer_visible": [INTERNAL_FOR_STAFF]})
    before = {name: getattr(field, name) for name in changes} if not created else {}
    for name, value in changes.items():
        setattr(field, name, value)
    if field.type == FieldType.CHOICE and not field.choices:
        raise Invalid({"choices": ["A choice field needs at least one choice."]})
    if field.type != FieldType.CHOICE:
        field.choices = []
    if created:
        count = CustomField.objects.for_tenant(field.tenant_id).count()
        if count >= MAX_FIELDS:
            raise Invalid(f"A customer has at most {MAX_FIELDS} custom fields.")
    try:
        with transaction.atomic():
            field.save()
    except IntegrityError:
        raise Invalid({"key": ["This customer already has a field with this key."]}) from None
    changed = sorted(n for n in before if before[n] != getattr(field, n))
    if created:
        action, what = "custom_field.created", "created"
    elif changed == ["is_archived"]:
        action = "custom_field.archived" if field.is_archived else "custom_field.restored"
        what = "archived" if field.is_archived else "restored"
    else:
        action, what = "custom_field.updated", "changed"
    if created or changed:
        audit.record(
            action,
            actor=actor,
            tenant=field.tenant_id,
            obj=field,
            request=request,
            summary=_definition_summary(field, what),
            data={"internal": not field.customer_visible, "changed": changed}
            if field.customer_visible
            else {"internal": True},
        )
    return field


# --- values ----------------------------------------------------------------------------------


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?", text):
            raise ValueError
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError from None
    if isinstance(value, Decimal):
        value = float(value)
    if not isinstance(value, int | float):
        raise ValueError
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError
    if abs(value) > MAX_NUMBER:
        raise OverflowError
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _user_may_hold(username: str, tenant_id: int) -> bool:
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        return False
    if user.is_mssp_staff:
        return True
    return Membership.objects.for_tenant(tenant_id).filter(user=user).exists()


def clean_value(field: CustomField, value: Any, tenant_id: int) -> Any:
    """One field's value as stored, or Invalid naming the field; None clears it."""
    name = field.key

    def refuse(message: str) -> Invalid:
        return Invalid({"custom_fields": {name: [f"{field.label}: {message}"]}})

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if field.type == FieldType.NUMBER:
        try:
            return _number(value)
        except OverflowError:
            raise refuse(f"a number between -{MAX_NUMBER:.0e} and {MAX_NUMBER:.0e}.") from None
        except ValueError:
            raise refuse("a number, such as 12 or 4.5.") from None
    if not isinstance(value, str):
        raise refuse("a text value.")
    if field.type == FieldType.TEXT:
        text = value.replace("\x00", "").strip()
        if len(text) > MAX_TEXT:
            raise refuse(f"at most {MAX_TEXT} characters.")
        return text
    if field.type == FieldType.CHOICE:
        if value not in field.choices:
            raise refuse(f"one of {', '.join(field.choices)[:300]}.")
        return value
    if field.type == FieldType.DATE:
        try:
            if len(value) != 10:
                raise ValueError
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise refuse("a date, YYYY-MM-DD.") from None
    if field.type == FieldType.USER:
        username = value.strip()
        if len(username) > 150 or not _user_may_hold(username, tenant_id):
            raise refuse("no such user of this customer or the MSSP.")
        return username
    raise refuse("this field cannot hold values.")  # a type no longer known


def clean_values(
    access: Access | None,
    tenant_id: int,
    incoming: Any,
    *,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The incident's values after applying `incoming` (a partial update: keys given are set,
    null or "" clears one, others stay) to `current`. Unknown keys, archived fields and, for a
    customer, internal fields are refused."""
    if incoming is None:
        incoming = {}
    if not isinstance(incoming, Mapping):
        raise Invalid({"custom_fields": ["An object of field keys and values."]})
    result = dict(current or {})
    if not incoming:
        return result
    if len(incoming) > MAX_FIELDS:
        raise Invalid({"custom_fields": [f"At most {MAX_FIELDS} fields."]})
    staff = access is None or access.is_mssp_staff
    fields = {field.key: field for field in definitions(tenant_id, staff=staff)}
    errors: dict[str, list[str]] = {}
    for key, value in incoming.items():
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            errors[str(key)[:60]] = [UNKNOWN]
            continue
        if field.is_archived:
            if value != result.get(key):
                errors[key] = [f"{field.label}: archived, its value can no longer change."]
            continue
        try:
            cleaned = clean_value(field, value, tenant_id)
        except Invalid as exc:
            errors.update(exc.detail["custom_fields"])  # type: ignore[index]
            continue
        if cleaned is None:
            result.pop(key, None)
        else:
            result[key] = cleaned
    if errors:
        raise Invalid({"custom_fields": errors})
    return result


def missing_required(
    access: Access | None,
    tenant_id: int,
    values: Mapping[str, Any],
    *,
    status: str | None = None,
    category: str | None = None,
) -> list[CustomField]:
    """The active fields required for this status or category that have no value. A customer
    is never held up by (nor told of) the MSSP's internal fields."""
    staff = access is None or access.is_mssp_staff
    category = (category or "").strip().lower()
    missing = []
    for field in definitions(tenant_id, staff=staff, archived=False):
        wanted = (status is not None and status in field.required_for_statuses) or bool(
            category and category in field.required_for_categories
        )
        if wanted and values.get(field.key) in (None, ""):
            missing.append(field)
    return missing


def check_required(
    access: Access | None,
    tenant_id: int,
    values: Mapping[str, Any],
    *,
    status: str | None = None,
    category: str | None = None,
) -> None:
    missing = missing_required(access, tenant_id, values, status=status, category=category)
    if not missing:
        return
    labels = ", ".join(field.label for field in missing)
    if status == IncidentStatus.NEW:  # opening: for its category, or for any new incident
        sentence = f"Fill in {labels}: required to open an incident" + (
            f" of category {category}." if category else "."
        )
    else:
        sentence = f"Fill in {labels} before moving the incident to {status}."
    raise Invalid({"custom_fields": {field.key: [sentence] for field in missing}})


# --- the MSSP's field library ----------------------------------------------------------------

NOT_IN_LIBRARY = "No such field in the MSSP's library."
# What the adopter may set beside the library's definition (the rest is the library's).
ADOPTER_SETS = ("tenant", "position", "customer_visible")


def library_entry(value: Any) -> LibraryField:
    try:
        entry = LibraryField.objects.filter(pk=str(value)).first()
    except (ValueError, TypeError, DjangoValidationError):
        entry = None
    if entry is None:
        raise Invalid({"from_library": [NOT_IN_LIBRARY]})
    return entry


def adoption_body(entry: LibraryField, given: Mapping[str, Any]) -> dict[str, Any]:
    """A new field's body (the API's, CustomFieldSerializer) made from a library entry: its
    key, label, help text, type, choices and requirements, with the adopter's tenant (and
    position, and for MSSP staff whether it is internal). It is then validated and saved as
    any new field is (cases.actions.CREATE_FIELD): a key the customer has is a 400."""
    body: dict[str, Any] = {
        "key": entry.key,
        "label": entry.label,
        "help_text": entry.help_text,
        "type": entry.type,
        "choices": list(entry.choices or []),
        "required_for_categories": list(entry.required_for_categories or []),
        "required_for_statuses": list(entry.required_for_statuses or []),
    }
    body.update({name: given[name] for name in ADOPTER_SETS if name in given})
    return body


def library_for(tenant_id: int) -> list[LibraryField]:
    """The library's fields this customer has not adopted (no field of its own by that key)."""
    taken = CustomField.objects.for_tenant(tenant_id).values_list("key", flat=True)
    return list(LibraryField.objects.exclude(key__in=list(taken)).order_by("label", "key"))


# --- showing ---------------------------------------------------------------------------------


def shown(
    fields: list[CustomField], values: Mapping[str, Any], *, with_empty: bool = False
) -> list[tuple[CustomField, Any]]:
    """(field, value) of the fields given (the caller's view of them), in their order; archived
    fields only when they hold a value."""
    rows = []
    for field in fields:
        value = values.get(field.key)
        if value is None and (field.is_archived or not with_empty):
            continue
        rows.append((field, value))
    return rows


def visible_values(fields: list[CustomField], values: Mapping[str, Any]) -> dict[str, Any]:
    """The stored values of the fields given: whatever else the incident holds (an internal
    field for a customer, a deleted definition's leftovers) is left out."""
    keys = {field.key for field in fields}
    return {key: value for key, value in values.items() if key in keys}


def display(value: Any) -> str:
    if value is None:
        return ""
    return str(value)


# --- writing ---------------------------------------------------------------------------------


def _changes(
    fields: list[CustomField], before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[tuple[CustomField, Any, Any]]:
    return [
        (field, before.get(field.key), after.get(field.key))
        for field in fields
        if before.get(field.key) != after.get(field.key)
    ]


def _sentence(changes: list[tuple[CustomField, Any, Any]]) -> str:
    parts = []
    for field, old, new in changes:
        old_text = single_line(display(old), 80) or "empty"
        new_text = single_line(display(new), 80) or "empty"
        parts.append(f"{field.label}: {old_text} → {new_text}")
    return "; ".join(parts)


def record_changes(
    incident: Incident,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    actor: User | None,
    request=None,
) -> None:
    """The timeline entries (the customer-visible changes shared, the internal ones staff-only),
    the audit entry (never naming an internal field) and the stream events."""
    fields = definitions(incident.tenant_id, staff=True)
    changes = _changes(fields, before, after)
    if not changes:
        return
    shared = [change for change in changes if change[0].customer_visible]
    internal = [change for change in changes if not change[0].customer_visible]
    tenant = Tenant.objects.only("slug").get(pk=incident.tenant_id)
    for group, visibility in ((shared, Visibility.SHARED), (internal, Visibility.INTERNAL)):
        if not group:
            continue
        IncidentEvent.objects.create(
            tenant_id=incident.tenant_id,
            incident=incident,
            actor=actor,
            actor_name=getattr(actor, "username", "") or "",
            kind="custom_fields_changed",
            summary=("Fields changed: " + _sentence(group))[:500],
            data={"fields": [field.key for field, _old, _new in group]},
            visibility=visibility,
        )
        events.tenant_event(
            incident.tenant_id,
            tenant.slug,
            "incident.updated",
            str(incident.pk),
            {"change": "custom_fields", "status": incident.status},
            audience=("staff",) if visibility == Visibility.INTERNAL else events.EVERYONE,
        )
    summary = "custom fields changed: " + ", ".join(field.label for field, _o, _n in shared)
    if internal:
        summary += (", " if shared else "") + f"{len(internal)} internal field(s)"
    audit.record(
        "incident.custom_fields",
        actor=actor,
        tenant=incident.tenant_id,
        obj=incident,
        request=request,
        summary=summary[:300],
        data={"fields": [field.key for field, _o, _n in shared], "internal": len(internal)},
    )


@transaction.atomic
def set_values(
    incident: Incident,
    incoming: Any,
    *,
    access: Access | None,
    actor: User | None,
    request=None,
) -> Incident:
    """Change an incident's custom fields (validated, merged) and record the change."""
    incident = (
        Incident.objects.for_tenant(incident.tenant_id)
        .select_for_update()
        .select_related("tenant")
        .get(pk=incident.pk)
    )
    before = dict(incident.custom_fields or {})
    after = clean_values(access, incident.tenant_id, incoming, current=before)
    if after == before:
        return incident
    # What the incident's current status requires stays filled in once it is.
    was_missing = {
        f.key for f in missing_required(access, incident.tenant_id, before, status=incident.status)
    }
    cleared = [
        field
        for field in missing_required(access, incident.tenant_id, after, status=incident.status)
        if field.key not in was_missing
    ]
    if cleared:
        raise Invalid(
            {
                "custom_fields": {
                    field.key: [
                        f"{field.label} is required while the incident is {incident.status}."
                    ]
                    for field in cleared
                }
            }
        )
    incident.custom_fields = after
    incident.updated_at = timezone.now()
    incident.save(update_fields=["custom_fields", "updated_at"])
    record_changes(incident, before, after, actor=actor, request=request)
    return incident


# --- case templates' values ---------------------------------------------------------------------


def clean_template_values(tenant_id: int | None, incoming: Any) -> dict[str, Any]:
    """What a case template may set: for a customer's own template, values its fields take
    (validated as on an incident); for the library, which serves customers whose fields differ,
    well-formed keys and plain values, each checked against a customer's field when applied."""
    if incoming is None:
        return {}
    if not isinstance(incoming, Mapping):
        raise Invalid({"custom_fields": ["An object of field keys and values."]})
    if len(incoming) > MAX_FIELDS:
        raise Invalid({"custom_fields": [f"At most {MAX_FIELDS} fields."]})
    if tenant_id is not None:
        return clean_values(None, tenant_id, incoming)
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, value in incoming.items():
        if not isinstance(key, str) or not KEY_RE.match(key) or len(key) > 50:
            errors[str(key)[:60]] = [KEY_RULE]
        elif value is None or (isinstance(value, str) and not value.strip()):
            continue
        elif isinstance(value, str) and len(value) <= MAX_TEXT:
            cleaned[key] = value.replace("\x00", "").strip()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            try:
                cleaned[key] = _number(value)
            except (ValueError, OverflowError):
                errors[key] = [f"A finite number within +/- {MAX_NUMBER:.0e}."]
        else:
            errors[key] = [f"A text of at most {MAX_TEXT} characters, or a number."]
    if errors:
        raise Invalid({"custom_fields": errors})
    return cleaned


def apply_template_values(
    incident: Incident, values: Mapping[str, Any], *, actor: User | None, request=None
) -> list[str]:
    """A template's values on the incident, for the fields it has no value in yet: a value a
    person gave is never overwritten. A library value that the customer's field does not take
    (another type, a choice it lacks), an archived field or one the customer does not define is
    passed over. The keys set."""
    if not values:
        return []
    current = incident.custom_fields or {}
    fields = {f.key: f for f in definitions(incident.tenant_id, staff=True, archived=False)}
    wanted: dict[str, Any] = {}
    for key, value in values.items():
        field = fields.get(key)
        if field is None or current.get(key) not in (None, ""):
            continue
        try:
            cleaned = clean_value(field, value, incident.tenant_id)
        except Invalid:
            continue
        if cleaned is not None:
            wanted[key] = cleaned
    if wanted:
        set_values(incident, wanted, access=None, actor=actor, request=request)
    return sorted(wanted)


def manages_custom_fields(access: Access) -> bool:
    """Opens Settings → Incident fields (the page then lists the customers it may manage)."""
    return bool(access.tenant_ids) and (access.is_supervisor or access.is_customer_admin)
