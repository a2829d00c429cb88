from django import template

register = template.Library()


@register.simple_tag
def unread_notifications(user) -> int:
    """The signed-in user's unread notifications (rendered outside the cached header
    fragment, templates/base.html): the user row's counter, no query."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return user.unread_notifications
