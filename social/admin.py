from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import Collaborator, FeedEvent, Follow, ShareLink


@admin.register(Collaborator)
class CollaboratorAdmin(ReadOnlyAdmin):
    list_display = ("agent", "user", "role", "added_at")
    list_filter = ("role",)
    search_fields = ("agent__name", "user__username")


@admin.register(Follow)
class FollowAdmin(ReadOnlyAdmin):
    list_display = ("follower", "followee", "created_at")
    search_fields = ("follower__username", "followee__username")


@admin.register(FeedEvent)
class FeedEventAdmin(ReadOnlyAdmin):
    list_display = ("actor", "verb", "agent_id", "listing_id", "created_at")
    list_filter = ("verb",)


@admin.register(ShareLink)
class ShareLinkAdmin(ReadOnlyAdmin):
    list_display = ("run", "created_by", "created_at", "revoked_at")
    exclude = ("token",)
