"""Rewards from a project's active model: our scoring API and OpenRLHF's ``/get_reward``.

Callers: staff, or an account with the ``rewardtrain.score_rewards`` permission (give it to the RL
pipeline's service user and hand that user's token to the pipeline). Annotators get 403.

    curl -H "Authorization: Token $TOKEN" -H "Content-Type: application/json" \\
         -d '{"items": [{"prompt": "2+2?", "completions": ["4", "5"]}]}' \\
         http://127.0.0.1:8000/api/v1/projects/1/score
    # {"rewards": [[1.31, -0.88]], "model_version": 3, "model_version_id": 17}
    # "with_uncertainty": true adds "uncertainties" (models trained with uncertainty heads; else 400);
    # "include_style": true scores a style-controlled model's r + beta . s instead of the content reward r

    # OpenRLHF: --reward.remote_url http://host:8000/api/v1/projects/1/get_reward
    curl ... -d '{"query": ["User: 2+2?\\n\\nAssistant: 4"]}' http://127.0.0.1:8000/api/v1/projects/1/get_reward
    # {"rewards": [1.31], "scores": [1.31], "extra_logs": {}, "model_version": 3, "model_version_id": 17}

Both answers name the model version that computed them (also in the ``X-Model-Version`` header): right
after an activation, a process still loading the new model answers with the previous one for a moment.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.errors import ErrorSerializer
from annotate.models import Project
from rewardtrain.services.serving import NoActiveModel, rewards_for_texts, rewards_score

SCORE_PERMISSION = "rewardtrain.score_rewards"


class CanScore(BasePermission):
    message = "Scoring needs a staff account or the 'rewardtrain.score_rewards' permission."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_staff or user.has_perm(SCORE_PERMISSION)))


class ModelUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "This project has no active reward model yet."
    default_code = "no_active_model"


class TurnSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["user", "assistant", "system"])
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ItemSerializer(serializers.Serializer):
    prompt = serializers.CharField(allow_blank=True, trim_whitespace=False)
    context = TurnSerializer(many=True, required=False, default=list)
    completions = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), min_length=1
    )


class ScoreApi(APIView):
    permission_classes = [CanScore]

    class InputSerializer(serializers.Serializer):
        items = ItemSerializer(many=True, min_length=1)
        with_uncertainty = serializers.BooleanField(
            default=False, help_text="also each reward's uncertainty (models trained with uncertainty heads)"
        )
        include_style = serializers.BooleanField(
            default=False, help_text="style-controlled models: the reward including the style term r + beta . s"
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "ScoreOutput",
                {
                    "rewards": serializers.ListField(child=serializers.ListField(child=serializers.FloatField())),
                    "uncertainties": serializers.ListField(
                        child=serializers.ListField(child=serializers.FloatField()),
                        required=False,
                        help_text="only with with_uncertainty: the spread of each reward over the bootstrap heads",
                    ),
                    "model_version": serializers.IntegerField(),
                    "model_version_id": serializers.IntegerField(),
                },
            ),
            400: ErrorSerializer,  # a bad payload, or asked for uncertainty/style the model was not trained with
            503: ErrorSerializer,  # the project has no active model yet
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = get_object_or_404(Project, pk=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        valid = data.validated_data
        items = [{**item, "context": [dict(turn) for turn in item["context"]]} for item in valid["items"]]
        try:
            result = rewards_score(
                project=project,
                items=items,
                with_uncertainty=valid["with_uncertainty"],
                include_style=valid["include_style"],
            )
        except NoActiveModel as error:
            raise ModelUnavailable(str(error)) from error
        return Response(result, headers={"X-Model-Version": str(result["model_version"])})


class GetRewardApi(APIView):
    """OpenRLHF's remote reward model protocol; ``prompts`` and ``labels`` are accepted and ignored."""

    permission_classes = [CanScore]

    class InputSerializer(serializers.Serializer):
        query = serializers.ListField(
            child=serializers.CharField(allow_blank=True, trim_whitespace=False), min_length=1
        )
        prompts = serializers.ListField(child=serializers.JSONField(), required=False)
        labels = serializers.ListField(child=serializers.JSONField(), required=False)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "GetRewardOutput",
                {
                    "rewards": serializers.ListField(child=serializers.FloatField()),
                    "scores": serializers.ListField(child=serializers.FloatField()),
                    "extra_logs": serializers.DictField(),
                    "model_version": serializers.IntegerField(),
                    "model_version_id": serializers.IntegerField(),
                },
            ),
            503: ErrorSerializer,  # the project has no active model yet
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = get_object_or_404(Project, pk=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = rewards_for_texts(project=project, texts=data.validated_data["query"])
        except NoActiveModel as error:
            raise ModelUnavailable(str(error)) from error
        return Response(
            {
                "rewards": result["rewards"],
                "scores": list(result["rewards"]),
                "extra_logs": {},
                "model_version": result["model_version"],
                "model_version_id": result["model_version_id"],
            },
            headers={"X-Model-Version": str(result["model_version"])},
        )
