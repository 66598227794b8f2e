"""The annotator's task loop: next task, submit a ranking, skip, progress.

    H="Authorization: Token $TOKEN"
    curl -H "$H" http://127.0.0.1:8000/api/v1/projects/1/tasks/next
    curl -H "$H" -H "Content-Type: application/json" -d '{"order": [[12], [14, 15], [13]], "seconds": 41}' \\
         http://127.0.0.1:8000/api/v1/assignments/7/ranking
    curl -H "$H" -H "Content-Type: application/json" -d '{"reason": "not English"}' \\
         http://127.0.0.1:8000/api/v1/assignments/7/skip

These are the hottest endpoints of the product (every annotator, every task), so answers are
built as plain dicts from the rows the services already loaded; serializers only check input
and describe the schema. On PostgreSQL next and submit are one statement each
(``annotate.services.tasks``); they go through DRF and the whole middleware stack like every other
view, so throttling, headers and logging apply to them as well.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.errors import Conflict
from annotate.api.permissions import project_for_request
from annotate.models import FLAG_CHOICES, Assignment, Project, Ranking
from annotate.selectors import annotator_task_progress
from annotate.services.tasks import (
    RankingConflict,
    Task,
    assignment_claim,
    assignment_skip,
    ranking_submit,
    task_next,
)


class ProgressSerializer(serializers.Serializer):
    done_today = serializers.IntegerField(help_text="The caller's rankings in this project since midnight (UTC).")
    done_total = serializers.IntegerField(help_text="The caller's rankings in this project.")
    left = serializers.IntegerField(help_text="Rankings the project still wants (refreshed every few seconds).")


class PromptOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    context = serializers.ListField(child=serializers.DictField(), help_text='[{"role": "user", "text": "..."}]')


class CompletionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()


class TaskOutSerializer(serializers.Serializer):
    assignment_id = serializers.IntegerField(allow_null=True, help_text="null when no task is left for the caller.")
    project_id = serializers.IntegerField()
    prompt = PromptOutSerializer(required=False)
    completions = CompletionOutSerializer(many=True, required=False, help_text="In the order to show them.")
    instructions = serializers.CharField()
    allow_ties = serializers.BooleanField()
    flags = serializers.ListField(child=serializers.CharField(), help_text="Flags a completion may get.")
    started_at = serializers.DateTimeField(required=False)
    expires_at = serializers.DateTimeField(required=False)
    message = serializers.CharField(required=False)


def task_answer(*, project: Project, task: Task | None) -> dict:
    """The next-task answer; the ranking page embeds the same dict for its first task.

    Progress is not in it: every task request would pay for counting. The page gets it
    with the page, counts its own submits, and asks tasks/progress now and then.
    """
    answer = {
        "assignment_id": None,
        "project_id": project.pk,
        "instructions": project.instructions,
        "allow_ties": project.allow_ties,
        "flags": list(FLAG_CHOICES),
    }
    if task is None:
        answer["message"] = "No task left for you in this project. Thank you!"
        return answer
    answer.update(
        assignment_id=task.assignment.pk,
        prompt={"id": task.prompt.pk, "text": task.prompt.text, "context": task.prompt.context},
        completions=[{"id": completion.pk, "text": completion.text} for completion in task.completions],
        started_at=task.assignment.started_at,
        expires_at=task.assignment.expires_at,
    )
    return answer


def next_task_answer(*, project: Project, annotator: AbstractBaseUser) -> dict:
    return task_answer(project=project, task=assignment_claim(project=project, annotator=annotator))


class TaskNextApi(APIView):
    @extend_schema(
        summary="The caller's next task in a project",
        description="The caller's open task if it has one, else a newly claimed prompt with the fewest rankings. "
        "`assignment_id` is null when nothing is left for the caller.",
        responses=TaskOutSerializer,
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, task = task_next(project_id=project_id, annotator=request.user)  # 404 for outsiders
        return Response(task_answer(project=project, task=task))


class TaskProgressApi(APIView):
    @extend_schema(summary="The caller's progress in a project", responses=ProgressSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_request(request, project_id)
        return Response(annotator_task_progress(project=project, annotator=request.user))


class RankingOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    assignment_id = serializers.IntegerField()
    prompt_id = serializers.IntegerField()
    order = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    flags = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    comment = serializers.CharField()
    seconds = serializers.FloatField(allow_null=True)
    submitted_at = serializers.DateTimeField()


def ranking_answer(ranking: Ranking) -> dict:
    return {
        "id": ranking.pk,
        "assignment_id": ranking.assignment_id,
        "prompt_id": ranking.prompt_id,
        "order": ranking.order,
        "flags": ranking.flags,
        "comment": ranking.comment,
        "seconds": ranking.seconds,
        "submitted_at": ranking.submitted_at,
    }


class RankingSubmitApi(APIView):
    class InputSerializer(serializers.Serializer):
        order = serializers.JSONField(help_text="Groups of completion ids, best first; a group of several is a tie.")
        flags = serializers.JSONField(required=False, help_text='{"12": ["unsafe"]}')
        comment = serializers.CharField(required=False, allow_blank=True, max_length=10_000, trim_whitespace=True)
        seconds = serializers.FloatField(required=False, allow_null=True, min_value=0, help_text="Time on task.")

    @extend_schema(
        summary="Rank the completions of the caller's task",
        request=InputSerializer,
        responses={201: RankingOutSerializer, 200: RankingOutSerializer},
        description="201 with the new ranking; 200 with the stored one when the same ranking is sent again; "
        "400 naming the problem (nothing written); 404 for a task that is not the caller's; 409 for a "
        "different second ranking.",
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            ranking, created = ranking_submit(
                assignment_id=assignment_id, annotator=request.user, **serializer.validated_data
            )
        except RankingConflict as conflict:
            raise Conflict(str(conflict)) from conflict
        return Response(ranking_answer(ranking), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AssignmentOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=Assignment.State.choices)
    skip_reason = serializers.CharField()


class AssignmentSkipApi(APIView):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, max_length=1_000)

    @extend_schema(
        summary="Skip the caller's task",
        request=InputSerializer,
        responses=AssignmentOutSerializer,
        description="The prompt goes back to the pool for others; the caller does not get it again.",
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            assignment = assignment_skip(
                assignment_id=assignment_id, annotator=request.user, **serializer.validated_data
            )
        except RankingConflict as conflict:
            raise Conflict(str(conflict)) from conflict
        return Response({"id": assignment.pk, "state": assignment.state, "skip_reason": assignment.skip_reason})
