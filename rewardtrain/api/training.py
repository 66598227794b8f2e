"""Training runs and model versions, staff only.

    curl -H "Authorization: Token $TOKEN" -H "Content-Type: application/json" \\
         -d '{"config": {"epochs": 1}}' http://127.0.0.1:8000/api/v1/projects/1/training-runs
    curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/v1/training-runs/7
    curl -H "Authorization: Token $TOKEN" -X POST http://127.0.0.1:8000/api/v1/training-runs/7/cancel
    curl -H "Authorization: Token $TOKEN" -X POST http://127.0.0.1:8000/api/v1/training-runs/7/retry
    curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/v1/projects/1/models
    curl -H "Authorization: Token $TOKEN" -H "Content-Type: application/json" \\
         -d '{"pinned": true}' http://127.0.0.1:8000/api/v1/models/3/activate
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.errors import ErrorSerializer, ServiceUnavailable
from annotate.api.pagination import Pagination, paginated_response
from annotate.api.permissions import IsStaff, project_for_request
from annotate.api.projects import Conflict
from rewardtrain.models import ModelVersion, TrainingRun
from rewardtrain.services.registry import model_version_activate
from rewardtrain.services.training import (
    TrainingDispatchFailed,
    TrainingRunConflict,
    training_run_cancel,
    training_run_retry,
    training_run_start,
    training_runs_reap,
)


class TrainingRunOutputSerializer(serializers.ModelSerializer):
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id", "project", "state", "trigger", "requested_by", "retry_of", "config", "ranking_watermark", "data",
            "step", "total_steps", "progress", "metrics", "cancel_requested", "device", "host", "pid", "heartbeat_at",
            "created_at", "started_at", "finished_at", "artifact_path", "error", "model_version",
        ]  # fmt: skip

    def get_model_version(self, run: TrainingRun) -> dict | None:
        version = getattr(run, "model_version", None)
        if version is None:
            return None
        return {"id": version.pk, "version": version.version, "is_active": version.is_active}


class TrainingRunSummarySerializer(TrainingRunOutputSerializer):
    """The list leaves out the progress points (the detail has them)."""

    class Meta(TrainingRunOutputSerializer.Meta):
        fields = [name for name in TrainingRunOutputSerializer.Meta.fields if name != "progress"]


class ModelVersionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "id", "project", "run", "version", "artifact_path", "base_model", "metrics", "promotion", "is_active",
            "pinned", "created_at",
        ]  # fmt: skip


def _conflict(error: TrainingRunConflict) -> Conflict:
    conflict = Conflict(str(error))
    if error.run is not None:
        conflict.detail = {"detail": str(error), "run": error.run.pk}
    return conflict


def _unavailable(error: TrainingDispatchFailed) -> ServiceUnavailable:
    return ServiceUnavailable(f"{error}; the run was marked failed: start it again once the broker is back")


class TrainingRunListApi(APIView):
    pagination_class = Pagination
    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        config = serializers.DictField(required=False, default=dict, help_text="TrainConfig overrides, e.g. epochs")
        model = serializers.CharField(required=False, allow_blank=True, help_text="Base model for this run")

    @extend_schema(responses=TrainingRunSummarySerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_request(request, project_id)
        training_runs_reap(project=project)  # shown as they are: a dead run is not "running"
        runs = TrainingRun.objects.filter(project=project).select_related("model_version").order_by("-id")
        return paginated_response(
            request=request, view=self, queryset=runs, serializer_class=TrainingRunSummarySerializer
        )

    @extend_schema(request=InputSerializer, responses={201: TrainingRunOutputSerializer, 503: ErrorSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_request(request, project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        overrides = dict(data.validated_data["config"])
        if data.validated_data.get("model"):
            overrides["model"] = data.validated_data["model"]
        try:
            run = training_run_start(project=project, requested_by=request.user, overrides=overrides)
        except TrainingRunConflict as error:
            raise _conflict(error) from error
        except TrainingDispatchFailed as error:
            raise _unavailable(error) from error
        return Response(TrainingRunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class TrainingRunDetailApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=TrainingRunOutputSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(TrainingRun.objects.select_related("model_version"), pk=run_id)
        if run.is_active and training_runs_reap(project=run.project):
            run.refresh_from_db()
        return Response(TrainingRunOutputSerializer(run).data)


class TrainingRunCancelApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=None, responses=TrainingRunOutputSerializer)
    def post(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(TrainingRun, pk=run_id)
        try:
            run = training_run_cancel(run=run)
        except TrainingRunConflict as error:
            raise _conflict(error) from error
        return Response(TrainingRunOutputSerializer(run).data)


class TrainingRunRetryApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=None, responses={201: TrainingRunOutputSerializer, 503: ErrorSerializer})
    def post(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(TrainingRun.objects.select_related("project"), pk=run_id)
        try:
            new_run = training_run_retry(run=run, requested_by=request.user)
        except TrainingRunConflict as error:
            raise _conflict(error) from error
        except TrainingDispatchFailed as error:
            raise _unavailable(error) from error
        return Response(TrainingRunOutputSerializer(new_run).data, status=status.HTTP_201_CREATED)


class ModelVersionListApi(APIView):
    pagination_class = Pagination
    permission_classes = [IsStaff]

    @extend_schema(responses=ModelVersionOutputSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_request(request, project_id)
        versions = ModelVersion.objects.filter(project=project).order_by("-version")
        return paginated_response(
            request=request, view=self, queryset=versions, serializer_class=ModelVersionOutputSerializer
        )


class ModelVersionActivateApi(APIView):
    """Activate a version (an older one: a rollback), and pin or unpin it."""

    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        pinned = serializers.BooleanField(
            required=False, allow_null=True, default=None, help_text="Keep it active whatever later runs score"
        )

    @extend_schema(request=InputSerializer, responses=ModelVersionOutputSerializer)
    def post(self, request: Request, version_id: int) -> Response:
        version = get_object_or_404(ModelVersion, pk=version_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = model_version_activate(version=version, user=request.user, pinned=data.validated_data["pinned"])
        return Response(ModelVersionOutputSerializer(version).data)
