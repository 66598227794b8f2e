"""Admin-facing pages of rewardtrain (project dashboards, training runs)."""

urlpatterns: list = []
