from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from agents import signals

        from . import receivers, tracing

        signals.run_finished.connect(receivers.run_finished, dispatch_uid="monitoring_trace")
        # OTEL_EXPORTER_OTLP_ENDPOINT set: the web's requests are traced too (before the
        # WSGI/ASGI handler loads its middleware, which happens after setup).
        tracing.instrument_django()
