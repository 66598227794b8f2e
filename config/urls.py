"""Top-level URLs: pages, the admin, and the REST API under /api/v1/."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from annotate.api.docs import DocsPage, SchemaApi

urlpatterns = [
    # Pages name static/favicon.svg in <head>; this answers browsers that ask for the old path.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("api/v1/schema/", SchemaApi.as_view(), name="api-schema"),
    path("api/v1/docs/", DocsPage.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("annotate.api.urls")),
    path("api/v1/", include("rewardtrain.api_urls")),
    path("", include("rewardtrain.urls")),
    path("", include("annotate.urls")),
]

# Under /api/ these answer JSON {"detail": ...}; pages keep Django's own (annotate/api/errors.py).
handler400 = "annotate.api.errors.bad_request"
handler404 = "annotate.api.errors.not_found"
handler500 = "annotate.api.errors.server_error"
