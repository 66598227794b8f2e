"""REST endpoints of rewardtrain under /api/v1/: comparisons, exports, training, scoring."""

urlpatterns: list = []
