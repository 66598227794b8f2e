"""REST endpoints of annotate under /api/v1/."""

from django.urls import path

from annotate.api import auth, gold, imports, projects, tasks

urlpatterns: list = [
    path("auth/token", auth.AuthTokenApi.as_view(), name="api-auth-token"),
    path("me", auth.MeApi.as_view(), name="api-me"),
    path("projects", projects.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<id:project_id>", projects.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<id:project_id>/annotators", projects.ProjectAnnotatorsApi.as_view(), name="api-project-annotators"),
    path("projects/<id:project_id>/progress", projects.ProjectProgressApi.as_view(), name="api-project-progress"),
    path("projects/<id:project_id>/prompts", imports.ProjectPromptsApi.as_view(), name="api-project-prompts"),
    path("prompts/<id:prompt_id>/gold", gold.PromptGoldApi.as_view(), name="api-prompt-gold"),
    path("projects/<id:project_id>/tasks/next", tasks.TaskNextApi.as_view(), name="api-task-next"),
    path("projects/<id:project_id>/tasks/progress", tasks.TaskProgressApi.as_view(), name="api-task-progress"),
    path("assignments/<id:assignment_id>/ranking", tasks.RankingSubmitApi.as_view(), name="api-ranking-submit"),
    path("assignments/<id:assignment_id>/skip", tasks.AssignmentSkipApi.as_view(), name="api-assignment-skip"),
]
