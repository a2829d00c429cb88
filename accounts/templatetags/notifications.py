from django import template

from accounts.models import Notification

register = template.Library()


@register.simple_tag
def unread_notifications(user) -> int:
    """The signed-in user's unread notifications: the header's one query per page
    (rendered outside the cached header fragment, templates/base.html)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.for_user(user).unread().count()
