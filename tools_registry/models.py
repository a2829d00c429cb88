from django.conf import settings
from django.db import models
from django.db.models import Q

from core.errors import Forbidden, NotFound


class ToolQuerySet(models.QuerySet):
    def builtin(self) -> "ToolQuerySet":
        return self.filter(builtin=True)

    def custom(self) -> "ToolQuerySet":
        return self.filter(builtin=False)

    def owned_by(self, user) -> "ToolQuerySet":
        return self.filter(owner=user)

    def valid(self) -> "ToolQuerySet":
        return self.filter(status=Tool.Status.VALID)

    def invalid(self) -> "ToolQuerySet":
        """Tools an agent may not use any more; `status_reason` says why."""
        return self.filter(status=Tool.Status.INVALID)

    def selectable(self) -> "ToolQuerySet":
        """What the agent editor's tool picker offers: valid and runnable on this platform."""
        return self.valid().filter(runnable=True)

    def search(self, q: str) -> "ToolQuerySet":
        q = (q or "").strip()
        if not q:
            return self
        return self.filter(Q(name__icontains=q) | Q(description__icontains=q))

    def for_listing(self) -> "ToolQuerySet":
        return self.select_related("owner")

    def get_for(self, user, name: str, *, need: str = "see") -> "Tool":
        """The access rule for tools, shared by pages and the API: the registry is public
        to signed-in users, so "see" finds any tool by name; "own" (start a new version
        from its code) is its owner's only. Raises NotFound or Forbidden."""
        if need not in ("see", "own"):
            raise ValueError(f"need must be see or own, not {need!r}")
        # No tool can have a name that is not an identifier (this also keeps NUL bytes
        # away from PostgreSQL).
        tool = self.filter(name=name).first() if name.isidentifier() else None
        if tool is None:
            raise NotFound("Tool not found.")
        if need == "own" and not tool.is_owned_by(user):
            raise Forbidden("Only the tool's owner can do this.")
        return tool


class Tool(models.Model):
    """A tool agents can pick: a smolagents built-in, or registered code with versions.

    name/description/inputs/output_type mirror the latest version, so lists need no join.
    """

    class Status(models.TextChoices):
        VALID = "valid", "valid"
        INVALID = "invalid", "invalid"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField()
    # smolagents' inputs schema: {arg: {"type": ..., "description": ..., "nullable"?: true}}
    inputs = models.JSONField(default=dict, blank=True)
    output_type = models.CharField(max_length=20)
    builtin = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tools",
        help_text="Empty for built-ins (and for tools whose owner was deleted).",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.VALID)
    status_reason = models.TextField(blank=True)
    latest_version = models.PositiveIntegerField(default=0)
    # Built-ins only: the smolagents.default_tools class and what running it needs.
    builtin_class = models.CharField(max_length=100, blank=True)
    needs_network = models.BooleanField(default=False)
    requires = models.JSONField(default=list, blank=True)
    runnable = models.BooleanField(
        default=True, help_text="Whether an agent may select it on this platform."
    )
    runnable_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ToolQuerySet.as_manager()

    class Meta:
        ordering = ["-builtin", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(builtin=False) | Q(owner__isnull=True),
                name="tool_builtin_has_no_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_valid(self) -> bool:
        return self.status == self.Status.VALID

    def is_owned_by(self, user) -> bool:
        return not self.builtin and self.owner_id is not None and self.owner_id == user.pk


class ToolVersion(models.Model):
    """One registered source of a tool. Never changed once written."""

    tool = models.ForeignKey(Tool, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    code = models.TextField()
    sha256 = models.CharField(max_length=64)
    description = models.TextField()
    inputs = models.JSONField(default=dict, blank=True)
    output_type = models.CharField(max_length=20)
    # Modules the code imports (besides smolagents/typing), for allowlist re-checks.
    imports = models.JSONField(default=list, blank=True)
    kind = models.CharField(max_length=10, help_text="function (@tool) or class (Tool subclass)")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["tool", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["tool", "version"], name="toolversion_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.tool_id} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        # Agents pin a version by its sha256: an edited row would run code nobody reviewed.
        if self.pk is not None:
            raise ValueError("Tool versions are immutable: register a new version instead.")
        super().save(*args, **kwargs)


class AllowedImport(models.Model):
    """A module tools and agents may import (the platform allowlist, managed by staff)."""

    module = models.CharField(
        max_length=100,
        unique=True,
        help_text="A module name such as 'math' or 'collections.abc'; 'pkg.*' allows submodules.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["module"]
        verbose_name = "allowed import"

    def __str__(self) -> str:
        return self.module
