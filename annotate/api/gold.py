"""A prompt's gold (reference) ranking, staff only.

    curl -H "Authorization: Token $TOKEN" -X PUT -H "Content-Type: application/json" \\
         -d '{"order": [[31], [29, 30], [32]]}' http://127.0.0.1:8000/api/v1/prompts/12/gold
    curl -H "Authorization: Token $TOKEN" -X DELETE http://127.0.0.1:8000/api/v1/prompts/12/gold
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.permissions import IsStaff
from annotate.models import Prompt
from annotate.services.gold import prompt_gold_clear, prompt_gold_set


class PromptGoldApi(APIView):
    """Read, mark or clear a prompt's reference ranking (groups of completion ids, best first)."""

    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        order = serializers.JSONField(help_text="Every completion id of the prompt once, best first: [[3], [1, 2]].")

    class OutputSerializer(serializers.Serializer):
        prompt_id = serializers.IntegerField()
        gold_order = serializers.JSONField(allow_null=True)

    @extend_schema(summary="A prompt's gold ranking (staff)", responses=OutputSerializer)
    def get(self, request: Request, prompt_id: int) -> Response:
        prompt = get_object_or_404(Prompt, pk=prompt_id)
        return Response({"prompt_id": prompt.pk, "gold_order": prompt.gold_order})

    @extend_schema(summary="Mark a prompt's gold ranking (staff)", request=InputSerializer, responses=OutputSerializer)
    def put(self, request: Request, prompt_id: int) -> Response:
        prompt = get_object_or_404(Prompt, pk=prompt_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        prompt_gold_set(prompt=prompt, order=serializer.validated_data["order"])
        return Response({"prompt_id": prompt.pk, "gold_order": prompt.gold_order})

    @extend_schema(summary="Clear a prompt's gold ranking (staff)", request=None, responses=OutputSerializer)
    def delete(self, request: Request, prompt_id: int) -> Response:
        prompt = prompt_gold_clear(prompt=get_object_or_404(Prompt, pk=prompt_id))
        return Response({"prompt_id": prompt.pk, "gold_order": prompt.gold_order})
