"""Serve rewards from a process of its own: only the scoring URLs, the models loaded before the first request.

    python manage.py serve_rewards --port 8010 --project 1
    # OpenRLHF: --reward.remote_url http://127.0.0.1:8010/api/v1/projects/1/get_reward

Same URLs, authentication and answers as the web server's (token auth; staff or the
``rewardtrain.score_rewards`` permission), and the same watch for a newly activated version, loaded
in the background (``rewardtrain.services.serving``).
Use it when an RL run calls the reward model many times a second, or when the model belongs on a
GPU machine: the web server then keeps answering annotators quickly, and the scoring process holds
one copy of the model instead of one per web worker. See docs/training-runs.md.
"""

from __future__ import annotations

import json
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import Project


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


def only_project(app, project_id: int):
    """404 for any project but ``project_id``: one process, one project's model."""
    prefix = f"/api/v1/projects/{project_id}/"

    def wrapped(environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(prefix):
            body = json.dumps({"detail": f"this scoring process serves project {project_id} only"}).encode()
            start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    return wrapped


class Command(BaseCommand):
    help = "Run a dedicated reward-scoring HTTP server (score and get_reward endpoints only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8010)
        parser.add_argument("--project", help="Serve only this project (name or id); its model loads at start")
        parser.add_argument("--quiet", action="store_true", help="Do not log each request")

    def handle(self, *args, **options) -> None:
        settings.ROOT_URLCONF = "rewardtrain.serving_urls"
        from django.core.wsgi import get_wsgi_application

        from rewardtrain.services.serving import serving_warm_start

        app = get_wsgi_application()
        project = None
        if options["project"]:
            name = options["project"]
            project = Project.objects.filter(name=name).first() or (
                Project.objects.filter(pk=int(name)).first() if name.isdigit() else None
            )
            if project is None:
                raise CommandError(f"no project named {name!r}")
            app = only_project(app, project.pk)
        served = serving_warm_start(projects={project.pk} if project else None, preload="active")
        for entry in served:
            self.stderr.write(f"Loaded version {entry.version} of project {entry.project_id}")
        if project is not None and not any(entry.project_id == project.pk for entry in served):
            self.stderr.write(f"{project.name!r} has no active model yet (requests answer 503 until one is active)")
        server = make_server(
            options["host"],
            options["port"],
            app,
            server_class=ThreadingWSGIServer,
            handler_class=QuietHandler if options["quiet"] else WSGIRequestHandler,
        )
        where = f"http://{options['host']}:{options['port']}/api/v1/projects/{project.pk if project else '{id}'}/"
        self.stderr.write(f"Serving rewards at {where}score and {where}get_reward (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
