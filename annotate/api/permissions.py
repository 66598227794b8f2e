"""Who may call what. Two roles: staff (everything) and annotators (their own projects' work).

Anonymous callers get 401 from DRF before these run (IsAuthenticated is the default).
Outsiders asking for a project they are not on get 404, not 403, so ids do not leak:

    class PromptListApi(APIView):
        permission_classes = [CanAccessProject]  # reads view.kwargs["project_id"]

        def get(self, request, project_id: int):
            project = project_for_request(request, project_id)
            ...
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from annotate.models import Project
from annotate.selectors import projects_visible_to


class IsStaff(BasePermission):
    """Staff and superusers: projects, import, export, training, all data."""

    message = "Only staff may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class CanAccessProject(BasePermission):
    """Staff, or an annotator of the project named by the URL's ``project_id`` (else 404).

    Also works as an object permission for a Project or anything with a ``project``
    attribute ``project_id`` (``self.check_object_permissions(request, prompt)``).
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        project_id = getattr(view, "kwargs", {}).get("project_id")
        if project_id is not None:
            project_for_request(request, project_id)  # raises Http404 for outsiders
        return True

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        project_id = obj.pk if isinstance(obj, Project) else obj.project_id
        project_for_request(request, project_id)  # raises Http404 for outsiders
        return True


def project_for_request(request: Request, project_id: int) -> Project:
    """The project if the caller may see it; 404 otherwise (outsiders do not learn it exists)."""
    return get_object_or_404(projects_visible_to(request.user), pk=project_id)
