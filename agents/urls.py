from django.urls import path

from . import views

app_name = "agents"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("agents/new/", views.agent_create, name="agent_create"),
    path("agents/<int:pk>/", views.agent_detail, name="agent_detail"),
    path("agents/<int:pk>/edit/", views.agent_edit, name="agent_edit"),
    path("agents/<int:pk>/start/", views.agent_start, name="agent_start"),
    path("agents/<int:pk>/stop/", views.agent_stop, name="agent_stop"),
    path("agents/<int:pk>/delete/", views.agent_delete, name="agent_delete"),
    path("agents/<int:pk>/chat/", views.chat, name="chat"),
    path("runs/", views.run_list, name="run_list"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
]
