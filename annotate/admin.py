"""Django admin for every model. Submitted rankings are history: read-only."""

from django.contrib import admin

from annotate.models import Assignment, Completion, Project, Prompt, Ranking, RankingEntry


class CompletionInline(admin.TabularInline):
    model = Completion
    extra = 0
    fields = ("position", "text", "model_name", "external_id")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "min_completions", "max_completions", "rankings_per_prompt", "allow_ties", "created_at")
    search_fields = ("name",)
    filter_horizontal = ("annotators",)


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "external_id", "short_text", "created_at")
    list_filter = ("project",)
    search_fields = ("text", "external_id")
    list_select_related = ("project",)
    inlines = [CompletionInline]

    @admin.display(description="text")
    def short_text(self, prompt: Prompt) -> str:
        return prompt.text[:100]


@admin.register(Completion)
class CompletionAdmin(admin.ModelAdmin):
    list_display = ("id", "prompt_id", "position", "model_name", "external_id")
    search_fields = ("text", "external_id", "model_name")
    raw_id_fields = ("prompt",)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("id", "prompt_id", "annotator", "state", "started_at", "expires_at", "finished_at")
    list_filter = ("state", "prompt__project")
    raw_id_fields = ("prompt", "annotator")


class RankingEntryInline(admin.TabularInline):
    model = RankingEntry
    extra = 0
    can_delete = False
    readonly_fields = ("completion", "rank", "flags")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Submitted rankings feed comparisons and trained models: editing them would rewrite history."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Ranking)
class RankingAdmin(ReadOnlyAdmin):
    list_display = ("id", "prompt_id", "annotator", "source", "seconds", "submitted_at")
    list_filter = ("source", "prompt__project")
    inlines = [RankingEntryInline]
