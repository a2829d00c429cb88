"""Pages and endpoints outside the JSON API: /ops/, /metrics, an agent's Health tab.

Mounted at the site root (config/urls.py), so each path here is written in full.
"""

from django.urls import path

from . import views, views_ops

app_name = "monitoring"

urlpatterns = [
    path("dashboard/agents/<int:pk>/health/", views.agent_health, name="agent_health"),
    path("ops/", views_ops.ops_board, name="ops"),
    path("metrics", views_ops.metrics, name="metrics"),
]
