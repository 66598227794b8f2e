"""Django admin for every model. Submitted rankings are history: read-only."""

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from annotate.models import Assignment, Completion, Project, Prompt, Ranking, RankingEntry

# Text that annotators ranked: changing it afterwards would make the rankings lie.
RANKED_TEXT_FIELDS = ("text", "context")


def text_preview(text: str, length: int = 100) -> str:
    """The start of a text on one line, for list pages (the admin escapes it)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


class CompletionInline(admin.TabularInline):
    model = Completion
    extra = 0
    fields = ("position", "text", "model_name", "external_id")

    def get_readonly_fields(self, request: HttpRequest, obj: Prompt | None = None) -> tuple[str, ...]:
        return ("text",) if obj is not None and obj.rankings.exists() else ()

    def has_add_permission(self, request: HttpRequest, obj: Prompt | None = None) -> bool:
        return not (obj is not None and obj.rankings.exists())

    def has_delete_permission(self, request: HttpRequest, obj: Prompt | None = None) -> bool:
        return not (obj is not None and obj.rankings.exists())


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "prompt_count",
        "min_completions",
        "max_completions",
        "rankings_per_prompt",
        "allow_ties",
        "render_markdown",
        "created_at",
    )
    search_fields = ("name",)
    filter_horizontal = ("annotators",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        return super().get_queryset(request).annotate(prompt_count=Count("prompts"))

    @admin.display(description="prompts", ordering="prompt_count")
    def prompt_count(self, project: Project) -> int:
        return project.prompt_count


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "external_id", "short_text", "created_at")
    list_filter = ("project",)
    search_fields = ("text", "external_id")
    list_select_related = ("project",)
    inlines = [CompletionInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Prompt | None = None) -> tuple[str, ...]:
        ranked = obj is not None and obj.rankings.exists()
        return ("project", *RANKED_TEXT_FIELDS) if ranked else ()

    @admin.display(description="text")
    def short_text(self, prompt: Prompt) -> str:
        return text_preview(prompt.text)


@admin.register(Completion)
class CompletionAdmin(admin.ModelAdmin):
    list_display = ("id", "prompt_id", "position", "short_text", "model_name", "external_id")
    search_fields = ("text", "external_id", "model_name")
    raw_id_fields = ("prompt",)

    @admin.display(description="text")
    def short_text(self, completion: Completion) -> str:
        return text_preview(completion.text)

    def get_readonly_fields(self, request: HttpRequest, obj: Completion | None = None) -> tuple[str, ...]:
        return ("prompt", "text") if obj is not None and obj.ranking_entries.exists() else ()


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("id", "prompt_id", "annotator", "state", "started_at", "expires_at", "finished_at")
    list_filter = ("state", "prompt__project")
    list_select_related = ("annotator",)
    raw_id_fields = ("prompt", "annotator")

    def has_change_permission(self, request: HttpRequest, obj: Assignment | None = None) -> bool:
        # A submitted assignment is part of its ranking's history.
        if obj is not None and obj.state == Assignment.State.SUBMITTED:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Assignment | None = None) -> bool:
        if obj is not None and obj.state == Assignment.State.SUBMITTED:
            return False
        return super().has_delete_permission(request, obj)


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
    list_select_related = ("annotator",)
    inlines = [RankingEntryInline]


@admin.register(RankingEntry)
class RankingEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "ranking_id", "prompt_id", "completion_id", "rank", "flags")
    list_filter = ("rank",)
