from django.apps import AppConfig

from governance.pii.logfilter import install_record_factory


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Every log record of this process passes the PII redaction from now on (governance.pii.logfilter).
        install_record_factory()

        # Lazy: auth_events imports the audit models, and the app registry is not ready when apps.py is imported.
        from governance.audit import auth_events

        auth_events.connect()
