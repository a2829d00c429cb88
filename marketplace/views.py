from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
@login_required
def listing_list(request: HttpRequest) -> HttpResponse:
    return render(request, "marketplace/listing_list.html")


@require_GET
@login_required
def wallet_detail(request: HttpRequest) -> HttpResponse:
    return render(request, "marketplace/wallet_detail.html")
