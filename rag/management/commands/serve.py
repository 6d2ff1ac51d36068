"""Run the whole service on this machine: migrations, web (gunicorn) and a Celery worker, together.

    python manage.py serve [--bind 127.0.0.1:8000] [--workers 2] [--worker-concurrency 1] [--dev]

It serves with DEBUG=false (safe to leave running): static files from STATIC_ROOT through WhiteNoise (collected
here at each start), plain error pages. ``--dev`` (or DEBUG=true) is the developer mode: Django's debug pages.

With DATABASE_URL / REDIS_URL unset, the embedded PostgreSQL and Redis start first (see config.settings).
With LLM_BASE_URL unset, the bundled model server (vLLM CPU + SmolLM2-135M-Instruct) starts on
127.0.0.1:LOCAL_LLM_PORT and web and worker are pointed at it.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from governance.audit import SYSTEM, Actor
from governance.users import user_create
from inference import gate, llm, local_server
from inference.registry import licences_sync_builtin


class Command(BaseCommand):
    help = "Run web and worker together (the README's run command)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1:8000"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
        parser.add_argument(
            "--worker-concurrency", type=int, default=int(os.environ.get("WORKER_CONCURRENCY", "1"))
        )
        parser.add_argument(
            "--dev",
            action="store_true",
            help="developer mode (DEBUG=true): debug pages that show settings and code; never on a network",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        login_hint = self._ensure_admin()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
        }
        if options["dev"]:
            env["DEBUG"] = "true"
        children: list[subprocess.Popen[bytes]] = []
        if not settings.LLM_BASE_URL:
            model_server = self._start_local_llm()
            if model_server is not None:
                children.append(model_server)
            env["LLM_BASE_URL"] = f"http://127.0.0.1:{settings.LOCAL_LLM_PORT}/v1"
            env["LLM_MODEL"] = local_server.MODEL_NAME
        self._check_models(env)
        worker = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(options["worker_concurrency"]),
                "-Q",
                settings.CELERY_TASK_DEFAULT_QUEUE,
                # One machine, one worker: the periodic scheduler (stale-task sweep) runs inside it.
                "--beat",
                "--schedule",
                str(settings.DATA_DIR / "celerybeat-schedule"),
            ],
            env=env,
        )
        web = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(settings.BASE_DIR / "config" / "gunicorn.py"),
                "config.wsgi:application",
                "--bind",
                options["bind"],
                "--workers",
                str(options["workers"]),
            ],
            env=env,
        )
        url = f"http://{options['bind']}"
        self.stdout.write(self.style.SUCCESS(f"\nEmanet is running at {url}"))
        if options["dev"] or settings.DEBUG:
            self.stdout.write(
                self.style.WARNING(
                    "Developer mode (DEBUG=true): error pages show settings and code. Not on a network."
                )
            )
        host = options["bind"].rsplit(":", 1)[0].strip("[]")
        if host not in ("127.0.0.1", "localhost", "::1") and not settings.HTTPS:
            self.stdout.write(
                self.style.WARNING(
                    f"Serving on {host} over plain http: passwords and session cookies cross the network in clear. "
                    "Put a TLS proxy in front and set HTTPS=true (and ALLOWED_HOSTS to the names clients use)."
                )
            )
        self.stdout.write(login_hint)
        python = os.path.relpath(sys.executable)
        self.stdout.write(
            f"API token: {python} manage.py drf_create_token admin   (then: Authorization: Token <key>)\n"
            f"API docs:  {url}/api/docs/    Stop: Ctrl-C ({python} manage.py embedded stop also stops the "
            "embedded PostgreSQL and Redis)\n"
        )
        self._supervise([web, worker, *children])

    def _start_local_llm(self) -> subprocess.Popen[bytes] | None:
        base_url = f"http://127.0.0.1:{settings.LOCAL_LLM_PORT}/v1"
        if local_server.ready(base_url):
            self.stdout.write(f"Using the model server already running at {base_url}")
            return None
        log_path = settings.DATA_DIR / "vllm.log"
        self.stdout.write(
            f"Starting the bundled model server (vLLM on the CPU, {local_server.MODEL_NAME}) at {base_url}; "
            f"the first start converts the weights (about a minute). Log: {log_path}"
        )
        try:
            return local_server.start(port=settings.LOCAL_LLM_PORT, log_path=log_path)
        except local_server.LocalServerError as exc:
            raise SystemExit(f"The bundled model server did not start: {exc}. Or set LLM_BASE_URL.") from exc

    def _check_models(self, env: dict[str, str]) -> None:
        """At start-up: bring the unedited built-in licences to this release's text, then ask the model server
        what it serves and print the serving gate's decision (audited when it changed; the beat rechecks)."""
        actor = Actor(role="command_line")
        for note in licences_sync_builtin(actor=actor):
            self.stdout.write(f"Licence catalogue: {note}")
        if not settings.LLM_BASE_URL:  # the bundled server this command started; else the settings stand
            settings.LLM_BASE_URL, settings.LLM_MODEL = env["LLM_BASE_URL"], env["LLM_MODEL"]
        try:
            decision = gate.gate_recheck(actor=actor)
        except llm.InferenceUnavailable as exc:
            self.stdout.write(self.style.WARNING(f"Model gate: the model server cannot be asked yet ({exc})"))
            return
        if decision.allowed:
            self.stdout.write(f"Model gate: {decision.reason}")
        else:
            verb = "refuses" if decision.mode == "enforce" else "flags (MODEL_GATE=warn)"
            self.stdout.write(self.style.WARNING(f"Model gate {verb} the served model: {decision.reason}"))

    def _ensure_admin(self) -> str:
        user_model = get_user_model()
        password_file = settings.DATA_DIR / "admin-password"
        if not user_model.objects.filter(is_superuser=True).exists():
            password = os.environ.get("EMANET_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            # Through the audited service: the trail shows who the first administrator is and when it appeared.
            user_create(username="admin", password=password, is_staff=True, is_superuser=True, actor=SYSTEM)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        if password_file.exists():
            return f"Log in:    user 'admin', password in {password_file}"
        return "Log in:    with your existing administrator account"

    def _supervise(self, children: list[subprocess.Popen[bytes]]) -> None:
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.5)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
        failed = [child.pid for child in children if child.returncode not in (0, -15, None)]
        if failed and not stopping:
            raise SystemExit(f"process(es) {failed} exited unexpectedly; see the log above")
