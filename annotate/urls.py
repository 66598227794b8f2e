"""Pages: the annotator workspace and the admin's project pages."""

from django.contrib.auth import views as auth_views
from django.urls import path

from annotate import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("projects/<int:project_id>/rank/", views.rank, name="rank"),
]
