"""Forms of the staff pages. They check what a person typed and say what is wrong beside the field;
the rules about projects stay in annotate.services (the forms call the same validators)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from annotate.models import Project
from annotate.services.imports import FORMATS
from annotate.services.projects import PROJECT_EDITABLE_FIELDS, completion_range_validate


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = PROJECT_EDITABLE_FIELDS
        labels = {
            "min_completions": "Fewest completions per prompt",
            "max_completions": "Most completions per prompt",
            "rankings_per_prompt": "Rankings wanted per prompt",
            "allow_ties": "Annotators may tie replies",
            "shuffle_completions": "Shuffle the replies in every task",
            "render_markdown": "Show replies as rendered Markdown (off: plain text)",
            "assignment_minutes": "Minutes before an open task returns to the pool",
            "retrain_after_rankings": "Retrain after this many new rankings",
            "retrain_daily": "Also retrain once a day",
            "acquisition_strategy": "Which prompt is ranked next (active learning)",
            "acquisition_exploration": "Exploration share",
        }
        help_texts = {
            "instructions": "Markdown. Shown to annotators above every task.",
            "min_completions": "At least 2.",
            "retrain_after_rankings": "0 = never retrain on a count.",
            "acquisition_strategy": "coverage: in import order; uncertainty: where the active model is least sure; "
            "disagreement: where annotators disagree; mixed: both (docs/annotation.md).",
            "acquisition_exploration": "0 to 1: this share of the queue is taken at random under a scored strategy.",
        }
        widgets = {
            "instructions": forms.Textarea(attrs={"rows": 8, "dir": "auto"}),
            "name": forms.TextInput(attrs={"dir": "auto", "autofocus": True}),
        }

    # Quality control settings (rewardtrain.services.quality): a form that does not send one keeps the
    # project's value (the model default on create); a threshold sent empty is switched off.
    QUALITY_FIELDS = (
        "gold_rate", "quality_min_rankings", "quality_min_agreement", "quality_min_consensus_tau",
        "quality_min_gold_tau", "quality_min_model_agreement", "quality_min_median_seconds",
    )  # fmt: skip
    # Active learning: left out of a submitted form, or sent empty, they keep the project's value.
    KEPT_WHEN_MISSING = ("acquisition_strategy", "acquisition_exploration")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in (*self.QUALITY_FIELDS, *self.KEPT_WHEN_MISSING):
            self.fields[name].required = False

    # Fields the template places in its sections; any other editable field (one added later) goes in a
    # section of its own, never left out: a field missing from the page would post empty and reset it.
    PLACED = (
        "name",
        "instructions",
        "min_completions",
        "max_completions",
        "rankings_per_prompt",
        "assignment_minutes",
        "allow_ties",
        "shuffle_completions",
        "render_markdown",
        "base_model",
        "retrain_after_rankings",
        "retrain_daily",
        "reliability_weighting",
        *QUALITY_FIELDS,
        "acquisition_strategy",
        "acquisition_exploration",
    )

    def other_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name not in self.PLACED]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in self.KEPT_WHEN_MISSING:
            if data.get(name) in (None, "") and name not in self.errors:
                data[name] = getattr(self.instance, name)
        for name in self.QUALITY_FIELDS:
            switched_off = data.get(name) is None and Project._meta.get_field(name).null
            if name not in self.data or (data.get(name) is None and not switched_off):
                data[name] = getattr(self.instance, name)
        low, high = data.get("min_completions"), data.get("max_completions")
        if low is not None and high is not None:
            try:
                completion_range_validate(min_completions=low, max_completions=high)
            except ValidationError as error:
                self.add_error(None, error)
        return data


class ImportUploadForm(forms.Form):
    file = forms.FileField(help_text="JSONL, CSV, Open Assistant trees or preference pairs; plain or .gz.")
    format = forms.ChoiceField(
        choices=[("", "Detect from the file")] + [(name, name) for name in FORMATS],
        required=False,
        help_text="Left to detection, the file name and first record decide (docs/import.md).",
    )


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150, label="Add an existing account")

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise ValidationError(f"There is no account named “{username}”. Create it below.")
        if self.project.annotators.filter(pk=user.pk).exists():
            raise ValidationError(f"“{username}” is already a member of this project.")
        return username


class AccountCreateForm(forms.Form):
    ACCESS = [("password", "a one-time password shown once"), ("link", "a link to set their own password")]
    username = forms.CharField(max_length=150, label="New annotator's username")
    email = forms.EmailField(required=False, label="Email (optional)")
    access = forms.ChoiceField(choices=ACCESS, initial="password", widget=forms.RadioSelect, label="Give them")

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise ValidationError(f"An account named “{username}” already exists; add it above instead.")
        return username


class PromptFilterForm(forms.Form):
    STATES = [("", "any state"), ("unranked", "unranked"), ("in_progress", "in progress"), ("done", "done")]
    SORTS = [("id", "oldest first"), ("-id", "newest first"), ("agreement", "least agreement first")]
    q = forms.CharField(required=False, max_length=200, label="Search")
    state = forms.ChoiceField(choices=STATES, required=False)
    max_agreement = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=100,
        label="Agreement at most (%)",
        help_text="Prompts ranked at least twice whose annotators agree on at most this share of pairs.",
    )
    annotator = forms.CharField(required=False, max_length=150, label="Ranked by")
    sort = forms.ChoiceField(choices=SORTS, required=False)

    def clean_annotator(self) -> str:
        username = self.cleaned_data["annotator"].strip()
        if username and not get_user_model().objects.filter(username=username).exists():
            raise ValidationError(f"There is no account named “{username}”.")
        return username
