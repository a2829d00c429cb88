from django.urls import path

from . import views

app_name = "gamification"

urlpatterns = [
    path("", views.leaderboard, name="leaderboard"),
    path("achievements/", views.achievement_list, name="achievement_list"),
    path("agents/<int:agent_id>/", views.agent_stats, name="agent_stats"),
    path("agents/<int:agent_id>/rating/", views.rating_save, name="rating_save"),
]
