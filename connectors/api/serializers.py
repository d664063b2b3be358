"""The connectors API's shapes: connectors (secrets write-only: given once, shown as a hint),
their call log, and enrichment results. The settings page validates with the same classes
(connectors.actions), so every limit is stated once, here."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tenants.text import single_line

from .. import kinds
from ..http import (
    ConnectorRefused,
    ConnectorUnavailable,
    check_destination,
    check_url,
    trusted_context,
)
from ..models import Connector, ConnectorCall, Enrichment

MAX_OPTIONS_BYTES = 12 * 1024  # a connector's options, as JSON (a PEM certificate fits)
MAX_SECRET = 4096  # characters of one secret (a PEM key fits)
MAX_RATE = 10_000


def purpose_of(kind: str) -> str:
    return kinds.spec(kind).purpose.value if kinds.is_known(kind) else ""


class ConnectorSerializer(serializers.ModelSerializer[Connector]):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    purpose = serializers.SerializerMethodField(help_text="response or enrichment")
    secret_hint = serializers.CharField(
        read_only=True, help_text="The end of a secret, to tell connectors apart; never more."
    )

    class Meta:
        model = Connector
        fields = [
            "id",
            "tenant",
            "kind",
            "purpose",
            "name",
            "base_url",
            "options",
            "secret_hint",
            "is_enabled",
            "last_tested_at",
            "last_test_ok",
            "last_test_message",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_purpose(self, row: Connector) -> str:
        return purpose_of(row.kind)


class ConnectorInputSerializer(serializers.Serializer[Any]):
    """A new connector (kind, name, secrets and the options its kind requires), or changes to
    one (the kind stays; secrets given replace those of the same name, the others are kept)."""

    kind = serializers.ChoiceField(choices=Connector.Kind.choices)
    name = serializers.CharField(max_length=100)
    base_url = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="The tool's API address; blank for a cloud service's documented one.",
    )
    options = serializers.JSONField(required=False, help_text="The kind's options (not secret).")
    secrets = serializers.DictField(
        child=serializers.CharField(max_length=MAX_SECRET, trim_whitespace=True),
        required=False,
        write_only=True,
        help_text="The kind's secrets: sealed, never shown again.",
    )
    is_enabled = serializers.BooleanField(required=False, default=True)

    def validate_name(self, value: str) -> str:
        name = single_line(value, 100)
        if not name:
            raise serializers.ValidationError("Give the connector a name.")
        return name

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance: Connector | None = self.instance
        kind = attrs.get("kind") or (instance.kind if instance else "")
        if instance is not None and kind != instance.kind:
            raise serializers.ValidationError({"kind": ["A connector's kind cannot change."]})
        if not kinds.is_known(kind):
            raise serializers.ValidationError({"kind": ["Not a connector kind."]})
        spec = kinds.spec(kind)
        errors: dict[str, list[str]] = {}
        # address
        if "base_url" in attrs or instance is None:
            base_url = (attrs.get("base_url") or "").strip()
            attrs["base_url"] = base_url
            if not base_url and spec.needs_base_url:
                errors["base_url"] = [f"A {spec.label} connector needs its API address."]
            elif base_url:
                problem = _address_problem(base_url)
                if problem:
                    errors["base_url"] = [problem]
        # options
        if "options" in attrs or instance is None:
            options = attrs.get("options", {})
            if options is None:
                options = {}
            problem, options = _clean_options(spec, options)
            if problem:
                errors["options"] = [problem]
            attrs["options"] = options
        # secrets
        secrets = attrs.get("secrets") or {}
        unknown = sorted(set(secrets) - spec.secret_names())
        if unknown:
            errors["secrets"] = [
                f"Not a secret of {spec.label}: {', '.join(unknown)[:200]}. "
                f"It reads: {', '.join(sorted(spec.secret_names())) or 'none'}."
            ]
        elif any(not v for v in secrets.values()):
            errors["secrets"] = ["A secret given is empty."]
        elif instance is None:
            missing = [f.name for f in spec.secrets if f.required and f.name not in secrets]
            if missing:
                errors["secrets"] = [f"Give {', '.join(missing)}."]
        if errors:
            raise serializers.ValidationError(errors)
        attrs["kind"] = kind
        attrs["secrets"] = dict(secrets)
        return attrs


def _address_problem(url: str) -> str:
    """Why a connector may not have this address ("" when it may): a URL, no credentials in
    it, and never a private address outside the deployment's allowed networks. A name that
    does not resolve from here is accepted (a tool behind a VPN; its test will tell)."""
    try:
        parsed = check_url(url)
    except ConnectorRefused as exc:
        return exc.message
    if parsed.fragment:
        return "An API address has no #fragment."
    try:
        check_destination(url)
    except ConnectorRefused as exc:
        return exc.message
    except ConnectorUnavailable:
        if parsed.scheme != "https":
            return "A connector whose address does not resolve here is reached over https only."
    return ""


def _clean_options(spec: kinds.KindSpec, given: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(given, dict):
        return "Options are a JSON object of the kind's option names.", {}
    if len(json.dumps(given, default=str)) > MAX_OPTIONS_BYTES:
        return f"Options are at most {MAX_OPTIONS_BYTES} bytes.", {}
    fields = {f.name: f for f in spec.options}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        return (
            f"Not an option of {spec.label}: {', '.join(map(str, unknown))[:200]}. "
            f"It reads: {', '.join(sorted(fields)) or 'none'}.",
            {},
        )
    cleaned: dict[str, Any] = {}
    for name, value in given.items():
        if value is None or value == "":
            continue
        if name == "rate_per_minute":
            if isinstance(value, bool) or not isinstance(value, int | str):
                return "rate_per_minute is a whole number.", {}
            try:
                number = int(value)
            except ValueError:
                return "rate_per_minute is a whole number.", {}
            if not 1 <= number <= MAX_RATE:
                return f"rate_per_minute is between 1 and {MAX_RATE}.", {}
            cleaned[name] = number
            continue
        if not isinstance(value, str):
            return f"{name} is text.", {}
        if name == "ca_certificate":  # PEM: its line breaks are its format
            pem = value.strip()
            if len(pem) > fields[name].max_length:
                return f"{name} is at most {fields[name].max_length} characters.", {}
            try:
                trusted_context(pem)
            except ConnectorRefused as exc:
                return exc.message, {}
            cleaned[name] = pem
            continue
        text = single_line(value, fields[name].max_length + 1)
        if len(text) > fields[name].max_length:
            return f"{name} is at most {fields[name].max_length} characters.", {}
        cleaned[name] = text
    # the options given replace the connector's: the kind's required ones are always among them
    missing = [f.name for f in spec.options if f.required and f.name not in cleaned]
    if missing:
        return f"Give {', '.join(missing)}.", {}
    return "", cleaned


class ConnectorCallSerializer(serializers.ModelSerializer[ConnectorCall]):
    connector = serializers.UUIDField(source="connector_id", read_only=True, allow_null=True)
    incident = serializers.UUIDField(source="incident_id", read_only=True, allow_null=True)

    class Meta:
        model = ConnectorCall
        fields = [
            "id",
            "connector",
            "connector_name",
            "incident",
            "purpose",
            "method",
            "url",
            "attempt",
            "status",
            "duration_ms",
            "request_excerpt",
            "response_excerpt",
            "error",
            "at",
        ]
        read_only_fields = fields


class EnrichmentSerializer(serializers.ModelSerializer[Enrichment]):
    observable = serializers.UUIDField(source="observable_id", read_only=True)
    connector = serializers.UUIDField(source="connector_id", read_only=True, allow_null=True)
    kind = serializers.SerializerMethodField(help_text="The connector's kind; null: built in.")

    class Meta:
        model = Enrichment
        fields = [
            "id",
            "observable",
            "source",
            "connector",
            "kind",
            "source_name",
            "verdict",
            "score",
            "summary",
            "raw",
            "error",
            "fetched_at",
            "expires_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_kind(self, row: Enrichment) -> str | None:
        connector = row.connector if row.connector_id else None
        return connector.kind if connector is not None else None


class SkippedSerializer(serializers.Serializer[Any]):
    source = serializers.CharField()  # type: ignore[assignment]
    reason = serializers.CharField()


class EnrichRequestSerializer(serializers.Serializer[Any]):
    connectors = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=50,
        help_text="Only these of the tenant's enrichment connectors (default: every enabled one).",
    )
    refresh = serializers.BooleanField(
        required=False, default=False, help_text="Ask again even where a fresh answer is held."
    )


class EnrichAnswerSerializer(serializers.Serializer[Any]):
    observable = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["done", "queued"])
    enrichments = EnrichmentSerializer(many=True)
    skipped = SkippedSerializer(many=True)


class KindFieldSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    help = serializers.CharField()
    required = serializers.BooleanField()  # type: ignore[assignment]
    max_length = serializers.IntegerField()


class KindSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    purpose = serializers.CharField(help_text="response or enrichment")
    label = serializers.CharField()  # type: ignore[assignment]
    default_base_url = serializers.CharField(help_text="Blank: the connector needs its address.")
    options = KindFieldSerializer(many=True)
    secrets = KindFieldSerializer(many=True)
    docs_url = serializers.CharField()
    has_test = serializers.SerializerMethodField()
    observable_types = serializers.SerializerMethodField(
        help_text="Enrichment kinds: the observable types they look up."
    )
    actions = serializers.SerializerMethodField(help_text="Response kinds: what they can do.")

    def get_has_test(self, spec: kinds.KindSpec) -> bool:
        return spec.test is not None

    def get_observable_types(self, spec: kinds.KindSpec) -> list[str]:
        return sorted(spec.observable_types)

    def get_actions(self, spec: kinds.KindSpec) -> list[str]:
        return sorted(spec.actions)


class KindsSerializer(serializers.Serializer[Any]):
    kinds = KindSerializer(many=True)
