from django import forms
from django.contrib import admin

from tenants.admin import AllTenantsAdmin

from .models import Attachment, EvidenceLimit, LibraryField


@admin.register(EvidenceLimit)
class EvidenceLimitAdmin(AllTenantsAdmin, admin.ModelAdmin):
    """A customer's own evidence limits, stricter than the MSSP's (EVIDENCE_MAX_BYTES,
    EVIDENCE_MAX_PER_INCIDENT); empty fields are the MSSP's, and a looser value has no
    effect."""

    list_display = ["tenant", "max_bytes", "max_per_incident", "updated_at"]


@admin.register(Attachment)
class AttachmentAdmin(AllTenantsAdmin, admin.ModelAdmin):
    """Evidence records, read only: files are added, downloaded and deleted on the incident
    (where each step is audited), never here."""

    list_display = ["name", "tenant", "incident", "size", "sha256", "created_at", "deleted_at"]
    list_filter = ["visibility"]
    readonly_fields = [f.name for f in Attachment._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LibraryFieldForm(forms.ModelForm):
    """A library entry is held to the rules of the customer's field it becomes when adopted
    (the API's CustomFieldSerializer), so that it is refused when saved, not when adopted."""

    class Meta:
        model = LibraryField
        fields = [
            "key",
            "label",
            "help_text",
            "type",
            "choices",
            "required_for_categories",
            "required_for_statuses",
        ]

    def clean(self):
        from . import custom_fields
        from .api.field_serializers import CustomFieldSerializer

        cleaned = super().clean()
        entry = LibraryField(**{name: cleaned.get(name) for name in self.Meta.fields})
        body = custom_fields.adoption_body(entry, {})
        serializer = CustomFieldSerializer(data=body)
        if not serializer.is_valid():
            raise forms.ValidationError(
                {
                    name if name in self.fields else None: [str(m) for m in messages]
                    for name, messages in serializer.errors.items()
                }
            )
        if entry.type == "choice" and not serializer.validated_data.get("choices"):
            raise forms.ValidationError({"choices": "A choice field needs at least one choice."})
        return cleaned


@admin.register(LibraryField)
class LibraryFieldAdmin(admin.ModelAdmin):
    """The MSSP's field library (cases.LibraryField): customers' admins adopt these into their
    own fields (Settings → Incident fields). Changing one here changes no adopted field. Each
    change is in the MSSP's audit log."""

    form = LibraryFieldForm
    list_display = ["label", "key", "type", "updated_at"]
    search_fields = ["label", "key"]

    def save_model(self, request, obj, form, change):
        from tenants import audit

        super().save_model(request, obj, form, change)
        what = "changed" if change else "added"
        audit.record(
            "field_library.saved",
            obj=obj,
            request=request,
            summary=f"Library field '{obj.label}' ({obj.key}) {what}",
            data={"changed": sorted(form.changed_data)},
        )

    def delete_model(self, request, obj):
        from tenants import audit

        audit.record(
            "field_library.deleted",
            obj=obj,
            request=request,
            summary=f"Library field '{obj.label}' ({obj.key}) removed",
        )
        super().delete_model(request, obj)
