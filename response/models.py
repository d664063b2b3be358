"""Response actions on a customer's own tools, under the approvals of its contract.

- `ActionPolicy`: per tenant and action, what the contract says: pre-approved (the MSSP acts at
  once), needs approval (the customer's on-call says yes or no on a clock that escalates and
  then expires), or never. No row: needs approval, the default (DEFAULT_MODE).
- `ResponseAction`: one request to act (isolate a host, disable a user, block an address ...)
  through one of the tenant's connectors: requested → awaiting approval → approved | rejected |
  expired → running → succeeded | failed. An action that undoes another (release, enable,
  unblock) names it (`reverses`); the one it undid is then `lifted_at`, so what is still in
  force is the succeeded applying actions not lifted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from alerts.models import Incident
from connectors.models import Connector
from tenants.models import Tenant, TenantOwnedModel, new_public_id


class ActionKind(models.TextChoices):
    ISOLATE_HOST = "isolate_host", "Isolate host"
    RELEASE_HOST = "release_host", "Release host"
    DISABLE_USER = "disable_user", "Disable user"
    ENABLE_USER = "enable_user", "Enable user"
    REVOKE_SESSIONS = "revoke_sessions", "Revoke sessions"
    BLOCK_ADDRESS = "block_address", "Block address"
    UNBLOCK_ADDRESS = "unblock_address", "Unblock address"
    BLOCK_DOMAIN = "block_domain", "Block domain"
    UNBLOCK_DOMAIN = "unblock_domain", "Unblock domain"
    WEBHOOK = "webhook", "Webhook action"


# An applying action -> the action that undoes it (and so "reversible").
REVERSAL = {
    ActionKind.ISOLATE_HOST: ActionKind.RELEASE_HOST,
    ActionKind.DISABLE_USER: ActionKind.ENABLE_USER,
    ActionKind.BLOCK_ADDRESS: ActionKind.UNBLOCK_ADDRESS,
    ActionKind.BLOCK_DOMAIN: ActionKind.UNBLOCK_DOMAIN,
}
UNDOES = {undo: apply for apply, undo in REVERSAL.items()}
# What is in force while an applying action stands, in the incident's words.
IN_FORCE_WORDS = {
    ActionKind.ISOLATE_HOST: "host isolated",
    ActionKind.DISABLE_USER: "user disabled",
    ActionKind.BLOCK_ADDRESS: "address blocked",
    ActionKind.BLOCK_DOMAIN: "domain blocked",
}
# The observable type an action's target is (the incident's observables prefill it).
TARGET_TYPE = {
    ActionKind.ISOLATE_HOST: "hostname",
    ActionKind.RELEASE_HOST: "hostname",
    ActionKind.DISABLE_USER: "user",
    ActionKind.ENABLE_USER: "user",
    ActionKind.REVOKE_SESSIONS: "user",
    ActionKind.BLOCK_ADDRESS: "ip",
    ActionKind.UNBLOCK_ADDRESS: "ip",
    ActionKind.BLOCK_DOMAIN: "domain",
    ActionKind.UNBLOCK_DOMAIN: "domain",
    ActionKind.WEBHOOK: "",
}


class ApprovalMode(models.TextChoices):
    PRE_APPROVED = "pre_approved", "Pre-approved"
    NEEDS_APPROVAL = "needs_approval", "Needs approval"
    NEVER = "never", "Never"


DEFAULT_MODE = ApprovalMode.NEEDS_APPROVAL
DEFAULT_APPROVE_MINUTES = 15
DEFAULT_ESCALATIONS = 1


class ActionPolicy(TenantOwnedModel):
    """What one tenant's contract says of one action."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=20, choices=ActionKind.choices)
    mode = models.CharField(max_length=20, choices=ApprovalMode.choices, default=DEFAULT_MODE)
    # The customer's on-call answers within this; unanswered, the request goes to the next
    # step (`escalations` times), then expires.
    approve_minutes = models.PositiveIntegerField(default=DEFAULT_APPROVE_MINUTES)
    escalations = models.PositiveSmallIntegerField(default=DEFAULT_ESCALATIONS)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["action"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "action"], name="action_policy_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.action}: {self.mode}"


class ActionStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


LIVE_STATUSES = (
    ActionStatus.REQUESTED,
    ActionStatus.AWAITING_APPROVAL,
    ActionStatus.APPROVED,
    ActionStatus.RUNNING,
)
FINAL_STATUSES = (
    ActionStatus.REJECTED,
    ActionStatus.EXPIRED,
    ActionStatus.SUCCEEDED,
    ActionStatus.FAILED,
)


class ResponseAction(TenantOwnedModel):
    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="response_actions"
    )
    # Kept when the connector is removed (the record stays; it cannot run any more).
    connector = models.ForeignKey(
        Connector, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connector_name = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=20, choices=ActionKind.choices)
    target = models.CharField(max_length=255)
    reason = models.CharField(max_length=1000, blank=True)
    status = models.CharField(
        max_length=20, choices=ActionStatus.choices, default=ActionStatus.REQUESTED
    )
    # The contract's word when it was asked (a later policy change does not rewrite it).
    mode = models.CharField(max_length=20, choices=ApprovalMode.choices)
    # The caller's key for this request: the same key again answers this row, never a second.
    idempotency_key = models.CharField(max_length=100)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by_name = models.CharField(max_length=150, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    # Taken by the customer's own team from its portal (hybrid and in-house customers).
    by_customer = models.BooleanField(default=False)
    # The approval clock: answer by then, or the next step is told (escalation_step + 1).
    respond_by = models.DateTimeField(null=True, blank=True)
    escalation_step = models.PositiveSmallIntegerField(default=0)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by_name = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=1000, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result_message = models.CharField(max_length=500, blank=True)
    # What the tool answered that identifies the action there (a Defender action id ...).
    result_data = models.JSONField(default=dict, blank=True)
    reverses = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reversals"
    )
    # Set on an applying action when its reversal succeeded: no longer in force.
    lifted_at = models.DateTimeField(null=True, blank=True)

    # Not stored: False on the row a repeated request is answered with (its idempotency key,
    # or the same live action), so the API answers 200 rather than 201.
    created: bool = True

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="response_action_idempotency"
            )
        ]
        indexes = [
            models.Index(
                fields=["respond_by"],
                name="response_action_respond_by",
                condition=models.Q(status="awaiting_approval"),
            ),
            models.Index(fields=["incident", "-requested_at"], name="response_action_incident"),
            # the sweep's: approved but never run, running for too long
            models.Index(
                fields=["decided_at"],
                name="response_action_approved",
                condition=models.Q(status="approved"),
            ),
            models.Index(
                fields=["started_at"],
                name="response_action_running",
                condition=models.Q(status="running"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.target} ({self.status})"

    @property
    def in_force(self) -> bool:
        return (
            self.status == ActionStatus.SUCCEEDED
            and self.action in IN_FORCE_WORDS
            and self.lifted_at is None
        )

    @property
    def in_force_words(self) -> str:
        return IN_FORCE_WORDS.get(ActionKind(self.action), "") if self.in_force else ""

    @property
    def reversal(self) -> str:
        """The action that would undo this one ("" when none)."""
        undo = REVERSAL.get(ActionKind(self.action))
        return str(undo) if undo else ""

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES
