"""Prompts of a project: ``GET`` lists them, ``POST`` imports more (staff only).

    curl -H "Authorization: Token $TOKEN" -F file=@prompts.jsonl.gz http://127.0.0.1:8000/api/v1/projects/1/prompts
    curl -H "Authorization: Token $TOKEN" -H "Content-Type: application/json" \\
         -d '[{"prompt": "Say hi", "completions": ["Hi", "Hello", "Hey", "Yo"]}]' \\
         http://127.0.0.1:8000/api/v1/projects/1/prompts

A JSON list is read as prompts, Open Assistant trees or preference pairs from its first
item; an upload may name its ``format`` (jsonl, csv, oasst, pairs) and may be gzip'd.
A bad record answers 400 ``{"detail": "line 3: completions: 2 given; ..."}`` (``item 3`` for a
JSON body) and nothing is imported. docs/import.md describes the formats.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiTypes, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.pagination import Pagination, paginated_response
from annotate.api.permissions import IsStaff, project_for_request
from annotate.models import Prompt
from annotate.services.imports import FORMATS, ImportFailed, prompts_import


class CompletionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    model_name = serializers.CharField()
    external_id = serializers.CharField()
    position = serializers.IntegerField()


class PromptOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    text = serializers.CharField()
    context = serializers.JSONField()
    metadata = serializers.JSONField()
    created_at = serializers.DateTimeField()
    ranking_count = serializers.IntegerField()
    completions = CompletionOutputSerializer(many=True)


ImportOutputSerializer = inline_serializer(
    "PromptImportResult",
    {
        "format": serializers.CharField(),
        "prompts_created": serializers.IntegerField(),
        "prompts_existing": serializers.IntegerField(),
        "completions_created": serializers.IntegerField(),
        "rankings_created": serializers.IntegerField(),
        "comparisons_created": serializers.IntegerField(),
        "identical_pairs_skipped": serializers.IntegerField(),
        "empty_pairs_skipped": serializers.IntegerField(),
        "summary": serializers.CharField(),
    },
)


class ProjectPromptsApi(APIView):
    pagination_class = Pagination
    permission_classes = [IsStaff]
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        summary="Prompts of a project with their completions (staff)", responses=PromptOutputSerializer(many=True)
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_request(request, project_id)
        prompts = Prompt.objects.filter(project=project).prefetch_related("completions").order_by("id")
        return paginated_response(request=request, view=self, queryset=prompts, serializer_class=PromptOutputSerializer)

    @extend_schema(
        summary="Import prompts: a JSON list or an uploaded file (staff)",
        request={
            "application/json": {"type": "array", "items": {"type": "object"}},
            "multipart/form-data": inline_serializer(
                "PromptImportUpload",
                {"file": serializers.FileField(), "format": serializers.ChoiceField(FORMATS, required=False)},
            ),
        },
        responses={201: ImportOutputSerializer, 400: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_request(request, project_id)
        if isinstance(request.data, list):
            # The kind of a JSON list is read from its first item (``?format=`` is DRF's renderer switch).
            source, format = request.data, None
        elif "file" in request.FILES:
            source, format = request.FILES["file"], request.data.get("format") or None
        else:
            raise ValidationError({"detail": "send a JSON list of prompts, or a multipart upload with a `file` field"})
        try:
            result = prompts_import(project=project, source=source, format=format)
        except ImportFailed as error:
            raise ValidationError({"detail": str(error)}) from None
        return Response({**result.as_dict(), "summary": result.summary()}, status=status.HTTP_201_CREATED)
