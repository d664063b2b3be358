"""The BASELINE the intake is compared with (bench only, never mounted by the app): the plain
Django REST framework way to take the same generic alerts. A serializer validates the batch,
then every alert is saved with one ORM `create()` in its own savepoint; a redelivery (the
unique constraint fires) is looked up instead. It does *less* than the real intake (no
quota, no incident grouping, no stream events), so the comparison flatters the baseline.

The key lookup and the row-level-security context are the portal's own (`source_for_key`,
`rls.activate`): without them the app role could not write a row at all.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.intake.base import SEVERITIES, content_digest, default_fingerprint
from alerts.intake.guard import IntakeRefused, source_for_key
from alerts.models import SEVERITY_RANK, Alert
from tenants import rls
from tenants.access import Access


class ObservableSerializer(serializers.Serializer):
    type = serializers.CharField(max_length=20)
    value = serializers.CharField(max_length=2000)


class BaselineAlertSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=500)
    severity = serializers.ChoiceField(choices=SEVERITIES)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    category = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    observed_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    source_ref = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    fingerprint = serializers.CharField(
        required=False, allow_blank=True, max_length=128, default=""
    )
    rule_id = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    rule_name = serializers.CharField(required=False, allow_blank=True, default="")
    observables = ObservableSerializer(many=True, required=False, default=list)
    mitre = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    tags = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class _Fingerprinted:
    """Just enough of a NormalizedAlert for default_fingerprint()."""

    def __init__(self, data: dict) -> None:
        self.rule_id, self.title = data["rule_id"], data["title"]
        self.observables = [_Obs(o["type"], o["value"]) for o in data["observables"]]


class _Obs:
    def __init__(self, type_: str, value: str) -> None:
        self.type, self.value = type_, value


class BaselineIntakeView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def post(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        try:
            source = source_for_key(header.partition(" ")[2].strip())
        except IntakeRefused as refused:
            raise AuthenticationFailed(refused.detail) from None
        rls.activate(Access(user_id=None, tenant_ids=frozenset({source.tenant_id})))
        records = request.data if isinstance(request.data, list) else [request.data]
        serializer = BaselineAlertSerializer(data=records, many=True)
        serializer.is_valid(raise_exception=True)
        now = timezone.now()
        ids, created = [], 0
        for record, data in zip(records, serializer.validated_data, strict=True):
            dedup_key = data["source_ref"] or content_digest(record)
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(
                        tenant_id=source.tenant_id,
                        source=source,
                        dedup_key=dedup_key,
                        source_ref=data["source_ref"],
                        fingerprint=data["fingerprint"]
                        or default_fingerprint(_Fingerprinted(data)),
                        title=data["title"],
                        description=data["description"],
                        severity=data["severity"],
                        severity_rank=SEVERITY_RANK[data["severity"]],
                        category=data["category"],
                        observed_at=data["observed_at"],
                        received_at=now,
                        rule_id=data["rule_id"],
                        rule_name=data["rule_name"],
                        mitre=data["mitre"],
                        tags=data["tags"],
                        observables=data["observables"],
                        raw=record,
                    )
                created += 1
                ids.append(str(alert.pk))
            except IntegrityError:  # a redelivery: the unique constraint said so
                existing = (
                    Alert.objects.for_tenant(source.tenant_id)
                    .filter(source=source, dedup_key=dedup_key)
                    .values_list("pk", flat=True)
                    .get()
                )
                ids.append(str(existing))
        return Response(
            {"accepted": len(ids), "alerts": ids, "duplicates": len(ids) - created}, status=202
        )


class FloorView(APIView):
    """The floor under any intake: daphne + Django's middleware + DRF, answering 202 with a
    small JSON body and touching neither the database nor Redis."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def post(self, request):
        return Response({"accepted": 1, "alerts": [], "duplicates": 0}, status=202)
