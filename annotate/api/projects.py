"""Project endpoints under /api/v1/projects.

    curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/v1/projects
    curl -H "Authorization: Token $TOKEN" -H "Content-Type: application/json" \\
         -d '{"name": "Helpfulness", "min_completions": 4, "max_completions": 6}' \\
         http://127.0.0.1:8000/api/v1/projects

Staff see and change every project. Annotators list and read only the projects they are on,
with fewer fields (no member list, no training settings); other projects answer 404.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.errors import Conflict
from annotate.api.pagination import Pagination, paginated_response
from annotate.api.permissions import IsStaff, project_for_request
from annotate.models import Project
from annotate.selectors import project_progress, projects_visible_to
from annotate.services.projects import (
    ProjectInUse,
    project_annotators_add,
    project_annotators_remove,
    project_create,
    project_delete,
    project_update,
)


class ProjectAnnotatorViewSerializer(serializers.Serializer):
    """What an annotator sees of a project they are on."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    instructions = serializers.CharField()
    min_completions = serializers.IntegerField()
    max_completions = serializers.IntegerField()
    allow_ties = serializers.BooleanField()


class ProjectOutputSerializer(ProjectAnnotatorViewSerializer):
    """What staff see: every setting, the member list and the number of prompts."""

    rankings_per_prompt = serializers.IntegerField()
    shuffle_completions = serializers.BooleanField()
    render_markdown = serializers.BooleanField()
    assignment_minutes = serializers.IntegerField()
    base_model = serializers.CharField()
    retrain_after_rankings = serializers.IntegerField()
    retrain_daily = serializers.BooleanField()
    gold_rate = serializers.FloatField()
    quality_min_rankings = serializers.IntegerField()
    quality_min_agreement = serializers.FloatField(allow_null=True)
    quality_min_consensus_tau = serializers.FloatField(allow_null=True)
    quality_min_gold_tau = serializers.FloatField(allow_null=True)
    quality_min_model_agreement = serializers.FloatField(allow_null=True)
    quality_min_median_seconds = serializers.FloatField(allow_null=True)
    reliability_weighting = serializers.BooleanField()
    acquisition_strategy = serializers.CharField()
    acquisition_exploration = serializers.FloatField()
    annotators = serializers.SerializerMethodField(help_text="Usernames of the project's annotators.")
    prompt_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_annotators(self, project: Project) -> list[str]:
        return sorted(user.get_username() for user in project.annotators.all())


def _staff_only(field: serializers.Field) -> serializers.Field:
    """``field`` as the schema shows it to everyone: absent from what annotators get."""
    if isinstance(field, serializers.SerializerMethodField):
        return serializers.ListField(child=serializers.CharField(), required=False, help_text=field.help_text)
    return type(field)(*field._args, **{**field._kwargs, "required": False})


# What GET answers, for the schema: the annotator's view, and the staff's fields marked as not always there.
ProjectForCallerSerializer = type(
    "ProjectForCallerSerializer",
    (ProjectAnnotatorViewSerializer,),
    {
        "__doc__": "A project as the caller may see it: annotators get the first six fields, staff all of them.",
        **{
            name: _staff_only(field)
            for name, field in ProjectOutputSerializer._declared_fields.items()
            if name not in ProjectAnnotatorViewSerializer._declared_fields
        },
    },
)


def output_serializer_for(request: Request) -> type[serializers.Serializer]:
    return ProjectOutputSerializer if request.user.is_staff else ProjectAnnotatorViewSerializer


def projects_for_output(request: Request) -> QuerySet[Project]:
    projects = projects_visible_to(request.user).order_by("name")
    if not request.user.is_staff:
        return projects
    return projects.annotate(prompt_count=Count("prompts")).prefetch_related("annotators")


class ProjectInputSerializer(serializers.Serializer):
    """Omitted fields keep their defaults on create and their values on PATCH."""

    name = serializers.CharField(max_length=200)
    instructions = serializers.CharField(required=False, allow_blank=True)
    min_completions = serializers.IntegerField(required=False, min_value=2)
    max_completions = serializers.IntegerField(required=False, min_value=2)
    rankings_per_prompt = serializers.IntegerField(required=False, min_value=1)
    allow_ties = serializers.BooleanField(required=False)
    shuffle_completions = serializers.BooleanField(required=False)
    render_markdown = serializers.BooleanField(required=False)
    assignment_minutes = serializers.IntegerField(required=False, min_value=1)
    base_model = serializers.CharField(required=False, allow_blank=True, max_length=500)
    retrain_after_rankings = serializers.IntegerField(required=False, min_value=0)
    retrain_daily = serializers.BooleanField(required=False)
    gold_rate = serializers.FloatField(required=False, min_value=0, max_value=1)
    quality_min_rankings = serializers.IntegerField(required=False, min_value=0)
    quality_min_agreement = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    quality_min_consensus_tau = serializers.FloatField(required=False, allow_null=True, min_value=-1, max_value=1)
    quality_min_gold_tau = serializers.FloatField(required=False, allow_null=True, min_value=-1, max_value=1)
    quality_min_model_agreement = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    quality_min_median_seconds = serializers.FloatField(required=False, allow_null=True, min_value=0)
    reliability_weighting = serializers.BooleanField(required=False)
    acquisition_strategy = serializers.ChoiceField(
        choices=["coverage", "uncertainty", "disagreement", "mixed"],
        required=False,
        help_text="Which prompt is ranked next (docs/annotation.md): coverage, uncertainty, disagreement or mixed.",
    )
    acquisition_exploration = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="Share of the queue filled at random under a scored strategy (0..1).",
    )
    annotators = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, help_text="Usernames; replaces the member list."
    )


def project_fields(validated: dict) -> dict:
    fields = dict(validated)
    if "annotators" in fields:
        fields["annotator_usernames"] = fields.pop("annotators")
    return fields


class ProjectListApi(APIView):
    pagination_class = Pagination

    def get_permissions(self):
        # Anyone signed in may list (and sees what they may see); only staff create.
        creating = getattr(self.request, "method", None) == "POST"
        return [IsStaff()] if creating else [IsAuthenticated()]

    @extend_schema(
        summary="List projects",
        description="Staff: every project with all fields. Annotators: their projects, without members "
        "and training settings.",
        responses=ProjectForCallerSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            request=request,
            view=self,
            queryset=projects_for_output(request),
            serializer_class=output_serializer_for(request),
        )

    @extend_schema(
        summary="Create a project (staff)", request=ProjectInputSerializer, responses={201: ProjectOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = ProjectInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(**project_fields(serializer.validated_data))
        output = ProjectOutputSerializer(projects_for_output(request).get(pk=project.pk))
        return Response(output.data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Read a project", responses=ProjectForCallerSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        # Visible projects only: anyone else's id is a 404.
        project = get_object_or_404(projects_for_output(request), pk=project_id)
        return Response(output_serializer_for(request)(project).data)

    @extend_schema(
        summary="Change a project (staff)", request=ProjectInputSerializer, responses=ProjectOutputSerializer
    )
    def patch(self, request: Request, project_id: int) -> Response:
        project = self.staff_project(request, project_id)
        serializer = ProjectInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project_update(project=project, **project_fields(serializer.validated_data))
        return Response(ProjectOutputSerializer(projects_for_output(request).get(pk=project.pk)).data)

    @extend_schema(summary="Delete a project and its prompts (staff; refused once ranked)", responses={204: None})
    def delete(self, request: Request, project_id: int) -> Response:
        project = self.staff_project(request, project_id)
        try:
            project_delete(project=project)
        except ProjectInUse as error:
            raise Conflict(str(error)) from error
        return Response(status=status.HTTP_204_NO_CONTENT)

    def staff_project(self, request: Request, project_id: int) -> Project:
        # Look up first: an outsider gets 404 for any project, a member annotator 403 for theirs.
        project = project_for_request(request, project_id)
        if not request.user.is_staff:
            self.permission_denied(request, message=IsStaff.message)
        return project


class UsernamesInputSerializer(serializers.Serializer):
    usernames = serializers.ListField(child=serializers.CharField(max_length=150), allow_empty=False)


annotators_output = inline_serializer(
    "ProjectAnnotators", {"annotators": serializers.ListField(child=serializers.CharField())}
)


class ProjectAnnotatorsApi(APIView):
    """Add or remove annotators by username; answers the resulting member list."""

    permission_classes = [IsStaff]

    @extend_schema(summary="Add annotators (staff)", request=UsernamesInputSerializer, responses=annotators_output)
    def post(self, request: Request, project_id: int) -> Response:
        return self.change(request, project_id, project_annotators_add)

    @extend_schema(summary="Remove annotators (staff)", request=UsernamesInputSerializer, responses=annotators_output)
    def delete(self, request: Request, project_id: int) -> Response:
        return self.change(request, project_id, project_annotators_remove)

    def change(self, request: Request, project_id: int, service: Callable[..., object]) -> Response:
        project = project_for_request(request, project_id)
        serializer = UsernamesInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        service(project=project, usernames=serializer.validated_data["usernames"])
        usernames = sorted(project.annotators.values_list("username", flat=True))
        return Response({"annotators": usernames})


class AnnotatorProgressOutputSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_member = serializers.BooleanField(help_text="False for people removed from the project (their rankings count).")
    rankings = serializers.IntegerField()
    open_tasks = serializers.IntegerField()
    skipped = serializers.IntegerField()
    mean_seconds = serializers.FloatField(allow_null=True, help_text="Mean time spent per ranking.")


class ProjectProgressOutputSerializer(serializers.Serializer):
    prompts = serializers.IntegerField()
    rankings = serializers.IntegerField(help_text="Every ranking, imported ones included.")
    rankings_wanted = serializers.IntegerField(help_text="prompts × rankings_per_prompt")
    rankings_done = serializers.IntegerField(help_text="Rankings counted towards the target (capped per prompt).")
    prompts_complete = serializers.IntegerField(help_text="Prompts with all the rankings they want.")
    annotators = AnnotatorProgressOutputSerializer(many=True)


class ProjectProgressApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(summary="Progress of a project (staff)", responses=ProjectProgressOutputSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_request(request, project_id)
        return Response(ProjectProgressOutputSerializer(project_progress(project=project)).data)
