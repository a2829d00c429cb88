from decimal import Decimal

from django.db import models


class AgentStats(models.Model):
    """One row per agent: the counters of API.md's AgentStats, updated by services only."""

    agent = models.OneToOneField("agents.Agent", on_delete=models.CASCADE, related_name="stats")
    total_requests = models.PositiveIntegerField(default=0)
    successful_requests = models.PositiveIntegerField(default=0)
    failed_requests = models.PositiveIntegerField(default=0)
    # Sum of the response times of counted runs; the average is derived from it, so
    # concurrent updates (F expressions) never lose precision or increments.
    total_response_ms = models.PositiveBigIntegerField(default=0)
    rating = models.FloatField(default=0)
    total_ratings = models.PositiveIntegerField(default=0)
    earnings = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    tasks_completed = models.PositiveIntegerField(default=0)
    level = models.PositiveIntegerField(default=1)
    experience_points = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "agent stats"

    def __str__(self) -> str:
        return f"Stats of {self.agent}"

    @property
    def average_response_time(self) -> float:
        """Seconds per counted run (succeeded or failed)."""
        if not self.total_requests:
            return 0.0
        return round(self.total_response_ms / self.total_requests / 1000, 3)

    @property
    def success_rate(self) -> float | None:
        if not self.total_requests:
            return None
        return self.successful_requests / self.total_requests
