from django.contrib import admin
from django.urls import include, path

from . import views
from .api import api

admin.site.site_header = "Agentbay admin"
admin.site.site_title = "Agentbay admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("styleguide/", views.styleguide, name="styleguide"),
    path("account/", include("accounts.urls")),
    path("dashboard/", include("agents.urls")),
    path("marketplace/", include("marketplace.urls")),
    path("tools/", include("tools_registry.urls")),
    path("leaderboard/", include("gamification.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
