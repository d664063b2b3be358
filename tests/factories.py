"""factory-boy factories. Tenant-owned rows are written under an explicit, logged RLS bypass:
a fixture sets up several tenants at once, which no real caller may."""

from __future__ import annotations

import factory
from guardian.shortcuts import assign_perm

from alerts.models import IntakeSource, SourceKind
from tenants.models import Membership, Tenant, User
from tenants.rls import rls_bypass


class BypassingFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with rls_bypass("test fixture"):
            return super()._create(model_class, *args, **kwargs)


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Customer {n}")
    slug = factory.Sequence(lambda n: f"customer-{n}")
    service_model = Tenant.ServiceModel.HYBRID
    timezone = "Europe/Berlin"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def save_password(self, create, extracted, **kwargs):
        if create:
            self.save()


class StaffFactory(UserFactory):
    staff_role = "analyst_l1"

    @factory.post_generation
    def tenants(self, create, extracted, **kwargs):
        for tenant in extracted or ():
            assign_perm("tenants.work_tenant", self, tenant)


class MembershipFactory(BypassingFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.VIEWER


class IntakeSourceFactory(BypassingFactory):
    class Meta:
        model = IntakeSource

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Sensor {n}")
    kind = SourceKind.WAZUH
    key_digest = factory.LazyFunction(lambda: IntakeSource.digest_of(IntakeSource().set_new_key()))
    key_prefix = factory.Sequence(lambda n: f"mssp_ik_{n:06d}")


def issue_token(user: User, scopes=None) -> str:
    from tenants.services import token_issue

    raw, _ = token_issue(user, name="test", scopes=frozenset(scopes) if scopes else None)
    return raw
