from django.contrib import admin
from django.urls import include, path

from accounts.views import admin_login

from . import views
from .api import api

admin.site.site_header = "Agentbay admin"
admin.site.site_title = "Agentbay admin"

# The error pages know which agent a user sold (config/views.py); DomainAccessMiddleware renders
# them in development too.
handler404 = "config.views.page_not_found"
handler403 = "config.views.permission_denied"

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon),
    path("styleguide/", views.styleguide, name="styleguide"),
    path("account/", include("accounts.urls")),
    path("dashboard/", include("agents.urls")),
    path("marketplace/", include("marketplace.urls")),
    path("tools/", include("tools_registry.urls")),
    path("leaderboard/", include("gamification.urls")),
    path("competitions/", include("competitions.urls")),
    path("", include("social.urls")),  # /s/<token>/ (public), /explore/, /u/<name>/, /feed/
    # /ops/, /metrics and the agent page's Health tab; full paths in monitoring/urls.py.
    path("", include("monitoring.urls")),
    # Ahead of admin.site.urls: the admin's log-in, rate limited like the site's.
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
