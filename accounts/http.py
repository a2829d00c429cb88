from core.htmx import HtmxHttpRequest

from .models import User


class AuthedHttpRequest(HtmxHttpRequest):
    """For type hints only: a request behind @login_required (or the API's auth), whose
    user is a signed-in `User`, never AnonymousUser."""

    user: User
