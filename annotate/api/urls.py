"""REST endpoints of annotate under /api/v1/."""

urlpatterns: list = []
