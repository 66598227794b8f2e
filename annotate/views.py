"""Server-rendered pages. Business logic lives in annotate.services and selectors."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotate.selectors import projects_visible_to


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "annotate/home.html", {"projects": projects_visible_to(request.user)})
