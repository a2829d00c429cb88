"""Demo users for `manage.py seed_demo`. Passwords are public: demo data only."""

from django.db import transaction

from .models import User

DEMO_PASSWORD = "agentbay-demo"
DEMO_USERS = [
    # username, email, staff
    ("admin", "admin@example.com", True),
    ("alice", "alice@example.com", False),
    ("bob", "bob@example.com", False),
    ("carol", "carol@example.com", False),
]


@transaction.atomic
def seed(log) -> None:
    for username, email, staff in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"email": email, "is_staff": staff, "is_superuser": staff},
        )
        if created or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        role = "staff, admin site" if staff else "member"
        note = "" if created else " [exists]"
        log(f"  user {username:<8} password {DEMO_PASSWORD}  ({role}){note}")
