from django.urls import path

from . import views

app_name = "tools_registry"

urlpatterns = [
    path("", views.tool_list, name="tool_list"),
    path("register/", views.tool_register, name="tool_register"),
    path("<str:name>/", views.tool_detail, name="tool_detail"),
]
