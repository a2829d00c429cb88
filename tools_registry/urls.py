from django.urls import path

from . import views

app_name = "tools_registry"

urlpatterns = [
    path("", views.tool_list, name="tool_list"),
]
