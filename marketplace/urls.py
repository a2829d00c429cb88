from django.urls import path

from . import views

app_name = "marketplace"

urlpatterns = [
    path("", views.listing_list, name="listing_list"),
    path("mine/", views.listing_mine, name="listing_mine"),
    path("<int:pk>/", views.listing_detail, name="listing_detail"),
    path("<int:pk>/purchase/", views.listing_purchase, name="listing_purchase"),
    path("<int:pk>/bid/", views.listing_bid, name="listing_bid"),
    path("<int:pk>/withdraw/", views.listing_withdraw, name="listing_withdraw"),
    path("wallet/", views.wallet_detail, name="wallet_detail"),
]
