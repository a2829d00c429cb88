from django.urls import path

from . import views

app_name = "competitions"

urlpatterns = [
    path("", views.competition_list, name="competition_list"),
    path("new/", views.competition_create, name="competition_create"),
    path("<int:pk>/", views.competition_detail, name="competition_detail"),
    path("<int:pk>/enter/", views.competition_enter, name="competition_enter"),
    path("<int:pk>/cancel/", views.competition_cancel, name="competition_cancel"),
    path("<int:pk>/tasks/", views.competition_tasks, name="competition_tasks"),
]
