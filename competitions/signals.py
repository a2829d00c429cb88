from django.dispatch import Signal

# Sent inside the payout's transaction with competition=, entry= (rank 1).
competition_won = Signal()
