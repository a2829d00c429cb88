import pytest
from django.test import Client

from accounts.services import token_create
from tests.conftest import ApiClient


@pytest.fixture
def api_for(db):
    """api_for(user) -> an ApiClient signed in as that user (a fresh token)."""

    def make(user) -> ApiClient:
        _token, raw = token_create(user=user, name="social tests")
        return ApiClient(Client(), raw)

    return make
