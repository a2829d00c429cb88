"""Pages and endpoints outside the JSON API: /ops/, /metrics, an agent's Health tab.

Mounted at the site root (config/urls.py), so each path here is written in full.
"""

from django.urls import path  # noqa: F401

app_name = "monitoring"

urlpatterns: list = []
