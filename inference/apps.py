from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Model inference"

    def ready(self) -> None:
        # Refuse to start (web, worker, manage.py) when a model endpoint points outside the organisation.
        from inference.egress import EgressRefused, check_configured

        try:
            check_configured()
        except EgressRefused as exc:
            raise ImproperlyConfigured(f"Egress guard: {exc}") from exc
