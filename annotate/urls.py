"""Pages: the annotator workspace and the admin's workspace (projects, imports, members)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from annotate import staff_views, views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # A new annotator's link (annotate.staff_views.project_members_page): Django's password-reset
    # token, which stops working once the password is set.
    path(
        "account/set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(success_url="/account/set-password/done/"),
        name="password-set",
    ),
    path("account/set-password/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("", views.home, name="home"),
    path("projects/new/", staff_views.project_create, name="project-create"),
    path("projects/<id:project_id>/rank/", views.rank, name="rank"),
    path("projects/<id:project_id>/edit/", staff_views.project_edit, name="project-edit"),
    path("projects/<id:project_id>/archive/", staff_views.project_archive, name="project-archive"),
    path("projects/<id:project_id>/import/", staff_views.project_import, name="project-import"),
    path("projects/<id:project_id>/imports/<id:job_id>/", staff_views.import_job_detail, name="import-job"),
    path(
        "projects/<id:project_id>/imports/<id:job_id>/status/",
        staff_views.import_job_status,
        name="import-job-status",
    ),
    path(
        "projects/<id:project_id>/imports/<id:job_id>/action/",
        staff_views.import_job_action,
        name="import-job-action",
    ),
    path("projects/<id:project_id>/members/", staff_views.project_members_page, name="project-members"),
]
