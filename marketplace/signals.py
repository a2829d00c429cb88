"""Domain events of the marketplace, for the apps above it (social). Sent with
`Signal.send` inside the transaction of the change they announce (agents/signals.py)."""

from django.dispatch import Signal

# A listing was created (sender=Listing, listing=).
listing_created = Signal()
