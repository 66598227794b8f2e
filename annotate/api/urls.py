"""REST endpoints of annotate under /api/v1/."""

from django.urls import path

from annotate.api import auth, gold, imports, projects, tasks

urlpatterns: list = [
    path("auth/token", auth.AuthTokenApi.as_view(), name="api-auth-token"),
    path("me", auth.MeApi.as_view(), name="api-me"),
    path("projects", projects.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<int:project_id>", projects.ProjectDetailApi.as_view(), name="api-project"),
    path(
        "projects/<int:project_id>/annotators", projects.ProjectAnnotatorsApi.as_view(), name="api-project-annotators"
    ),
    path("projects/<int:project_id>/progress", projects.ProjectProgressApi.as_view(), name="api-project-progress"),
    path("projects/<int:project_id>/prompts", imports.ProjectPromptsApi.as_view(), name="api-project-prompts"),
    path("prompts/<int:prompt_id>/gold", gold.PromptGoldApi.as_view(), name="api-prompt-gold"),
    path("projects/<int:project_id>/tasks/next", tasks.TaskNextApi.as_view(), name="api-task-next"),
    path("projects/<int:project_id>/tasks/progress", tasks.TaskProgressApi.as_view(), name="api-task-progress"),
    path("assignments/<int:assignment_id>/ranking", tasks.RankingSubmitApi.as_view(), name="api-ranking-submit"),
    path("assignments/<int:assignment_id>/skip", tasks.AssignmentSkipApi.as_view(), name="api-assignment-skip"),
]
