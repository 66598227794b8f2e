"""Annotator quality of a project, staff only.

curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/v1/projects/1/quality
curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/v1/projects/1/quality/7?limit=10
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.permissions import IsStaff, project_for_request
from rewardtrain.services.quality import (
    EVIDENCE_LIMIT,
    annotator_quality,
    annotator_quality_evidence,
    quality_thresholds,
)


class AnnotatorQualityOutputSerializer(serializers.Serializer):
    annotator_id = serializers.IntegerField()
    username = serializers.CharField()
    is_member = serializers.BooleanField()
    rankings = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    skips = serializers.IntegerField()
    flags = serializers.IntegerField(help_text="Completion flags given, summed over rankings.")
    ties = serializers.IntegerField(help_text="Rankings holding at least one tie.")
    agreement_with_others = serializers.FloatField(allow_null=True)
    compared_pairs = serializers.IntegerField()
    consensus_tau = serializers.FloatField(allow_null=True)
    consensus_rankings = serializers.IntegerField()
    model_agreement = serializers.FloatField(allow_null=True)
    model_rankings = serializers.IntegerField()
    gold_rankings = serializers.IntegerField()
    gold_tau = serializers.FloatField(allow_null=True)
    gold_pairwise_agreement = serializers.FloatField(allow_null=True)
    reliability = serializers.FloatField()
    flagged = serializers.BooleanField()
    flag_reasons = serializers.ListField(child=serializers.CharField())


class ProjectQualityApi(APIView):
    """Every annotator's figures against the others, the consensus, gold and the model, with flags."""

    permission_classes = [IsStaff]

    class OutputSerializer(serializers.Serializer):
        thresholds = serializers.DictField()
        annotators = AnnotatorQualityOutputSerializer(many=True)

    @extend_schema(summary="Annotator quality (staff)", responses=OutputSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_request(request, project_id)
        rows = annotator_quality(project=project)
        return Response({"thresholds": quality_thresholds(project), "annotators": [row.to_dict() for row in rows]})


class AnnotatorQualityEvidenceApi(APIView):
    """One annotator's figures and their rankings least like the consensus of the others (or gold)."""

    permission_classes = [IsStaff]

    @extend_schema(
        summary="An annotator's quality evidence (staff)",
        operation_id="projects_quality_annotator_retrieve",
        parameters=[OpenApiParameter("limit", OpenApiTypes.INT, description="Rankings to list (max 200)")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, project_id: int, annotator_id: int) -> Response:
        project = project_for_request(request, project_id)
        get_object_or_404(get_user_model(), pk=annotator_id)
        limit = request.query_params.get("limit", "")
        limit_value = min(int(limit), 200) if limit.isdigit() else EVIDENCE_LIMIT
        quality = next((row for row in annotator_quality(project=project) if row.annotator_id == annotator_id), None)
        if quality is None:
            return Response({"detail": "This person has no tasks in this project."}, status=404)
        evidence = annotator_quality_evidence(project=project, annotator_id=annotator_id, limit=limit_value)
        return Response({"annotator": quality.to_dict(), "evidence": evidence})
