"""Django admin of rewardtrain."""

from django.contrib import admin

from rewardtrain.models import Comparison, ModelActivation, ModelVersion, TrainingRun

# --- comparisons (issue 4) ------------------------------------------------------------------------


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    """Read-only: comparisons are derived from rankings by comparisons_expand, never edited by hand."""

    list_display = ("id", "project", "ranking", "annotator", "chosen", "rejected", "rank_gap", "weight", "is_tie")
    list_filter = ("is_tie", "project")
    list_select_related = ("project", "annotator", "chosen", "rejected")
    raw_id_fields = ("ranking", "prompt", "chosen", "rejected", "annotator")
    show_full_result_count = False  # counting a million rows on every page load is slow

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# --- training runs and the model registry (issue 5) -----------------------------------------------


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "state", "trigger", "step", "total_steps", "device", "host", "created_at")
    list_filter = ("state", "trigger", "project")
    list_select_related = ("project",)
    readonly_fields = [field.name for field in TrainingRun._meta.fields]


class ModelActivationInline(admin.TabularInline):
    model = ModelActivation
    fk_name = "version"
    extra = 0
    can_delete = False
    readonly_fields = ("reason", "previous", "activated_by", "note", "created_at")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Read-only here: activation goes through the registry service (project page or API), which
    switches atomically and keeps the history."""

    list_display = ("project", "version", "is_active", "pinned", "run", "created_at")
    list_filter = ("project", "is_active", "pinned")
    list_select_related = ("project",)
    readonly_fields = [field.name for field in ModelVersion._meta.fields]
    inlines = [ModelActivationInline]
