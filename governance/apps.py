from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Every log record of this process passes the PII redaction from now on (governance.pii.logfilter).
        from governance.pii.logfilter import install_record_factory

        install_record_factory()

        from governance.audit import auth_events

        auth_events.connect()
