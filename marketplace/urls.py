from django.urls import path

from . import views

app_name = "marketplace"

urlpatterns = [
    path("", views.listing_list, name="listing_list"),
    path("wallet/", views.wallet_detail, name="wallet_detail"),
]
