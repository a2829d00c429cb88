from django.urls import path

from . import views

app_name = "social"

urlpatterns = [
    path("s/<str:token>/", views.shared_run, name="shared_run"),
    path("explore/", views.explore, name="explore"),
    path("feed/", views.feed, name="feed"),
    path("u/<str:username>/", views.profile, name="profile"),
    path("u/<str:username>/follow/", views.follow, name="follow"),
    path("u/<str:username>/unfollow/", views.unfollow, name="unfollow"),
    path("social/agents/<int:pk>/fork/", views.agent_fork, name="agent_fork"),
    path(
        "social/agents/<int:pk>/collaborators/",
        views.collaborator_add,
        name="collaborator_add",
    ),
    path(
        "social/agents/<int:pk>/collaborators/<str:username>/remove/",
        views.collaborator_remove,
        name="collaborator_remove",
    ),
    path("social/runs/<int:pk>/share/", views.run_share, name="run_share"),
    path("social/runs/<int:pk>/unshare/", views.run_unshare, name="run_unshare"),
]
