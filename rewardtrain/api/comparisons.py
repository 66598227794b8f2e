"""Comparisons and agreement of a project, staff only.

curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/v1/projects/1/comparisons?limit=50
curl -H "Authorization: Token $TOKEN" -X POST http://127.0.0.1:8000/api/v1/projects/1/comparisons/expand
curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/v1/projects/1/agreement?prompts=20
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.pagination import Pagination, paginated_response, query_integer
from annotate.api.permissions import IsStaff, project_for_request
from rewardtrain.models import Comparison
from rewardtrain.selectors import comparison_counts
from rewardtrain.services.agreement import project_agreement
from rewardtrain.services.comparisons import comparisons_expand


class ComparisonOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Comparison
        fields = [
            "id", "ranking", "prompt", "annotator", "chosen", "rejected", "chosen_rank", "rank_gap", "weight",
            "is_tie", "submitted_at",
        ]  # fmt: skip


class ComparisonListApi(APIView):
    """The project's comparisons in id order; ``?ranking=ID`` and ``?ties=0|1`` narrow them."""

    pagination_class = Pagination
    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[
            OpenApiParameter("ranking", OpenApiTypes.INT, description="Only this ranking's comparisons"),
            OpenApiParameter("ties", OpenApiTypes.BOOL, description="Only tie rows (1) or only strict pairs (0)"),
        ],
        responses=ComparisonOutputSerializer(many=True),
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_request(request, project_id)
        comparisons = Comparison.objects.filter(project_id=project.pk).order_by("id")
        ranking_id = query_integer(request, "ranking", minimum=1)
        if ranking_id is not None:
            comparisons = comparisons.filter(ranking_id=ranking_id)
        ties = request.query_params.get("ties")
        if ties not in (None, "", "0", "1"):
            raise ValidationError({"ties": f"must be 0 or 1, got {ties!r}"})
        if ties:
            comparisons = comparisons.filter(is_tie=ties == "1")
        return paginated_response(
            request=request, view=self, queryset=comparisons, serializer_class=ComparisonOutputSerializer
        )


class ComparisonExpandApi(APIView):
    """Expand the project's rankings not expanded yet now, instead of waiting for the beat entry."""

    permission_classes = [IsStaff]

    class OutputSerializer(serializers.Serializer):
        inserted = serializers.IntegerField()
        comparisons = serializers.IntegerField()
        ties = serializers.IntegerField()
        rankings = serializers.IntegerField()
        rankings_not_expanded = serializers.IntegerField()

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_request(request, project_id)
        inserted = comparisons_expand(project_id=project.pk)
        return Response({"inserted": inserted, **comparison_counts(project_id=project.pk)})


class ProjectAgreementApi(APIView):
    """Agreement, consensus, tau, position bias, time per task and preference cycles of a project.

    ``prompts`` lists the ``?prompts=N`` (default 50) prompts with the lowest agreement.
    """

    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[OpenApiParameter("prompts", OpenApiTypes.INT, description="How many prompts to list (max 1000)")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_request(request, project_id)
        prompts = query_integer(request, "prompts", minimum=0)
        prompt_limit = 50 if prompts is None else min(prompts, 1000)
        report = project_agreement(project_id=project.pk, prompt_limit=prompt_limit)
        report["comparisons"] = comparison_counts(project_id=project.pk)
        report["project"] = {"id": project.pk, "name": project.name}
        return Response(report)
