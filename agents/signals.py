"""Domain events of the agents app: how agents makes the apps above it react.

Apps form layers and imports only go down (docs/DESIGN.md, Layout): gamification and the
marketplace import agents, never the reverse. When something here must make something
happen up there (a finished run earns XP; a deleted agent withdraws its listing), agents
sends one of these signals and the upper app's receiver (`<app>/receivers.py`, connected in
its AppConfig.ready) calls that app's own service. This is the one place where signals
carry domain flow; elsewhere code calls services directly.

Every signal is sent inside the transaction of the change it announces, with
`Signal.send` (not `send_robust`): a receiver's write commits or rolls back with the
change, and a receiver's exception aborts the change (that is how `agent_delete_check`
refuses a deletion).
"""

from django.dispatch import Signal

# A new agent exists (sender=Agent, agent=, by=).
agent_created = Signal()

# An agent is about to be deleted (sender=Agent, agent=, by=). Receivers return a list of
# reasons that forbid it now (strings for the owner; empty when nothing blocks).
agent_delete_check = Signal()

# An agent will be deleted in this transaction, nothing blocked it (sender=Agent, agent=,
# by=): receivers let go of what refers to it (listings withdrawn...).
agent_deleting = Signal()

# Ownership moved, e.g. a sale (sender=Agent, agent=, previous_owner=, new_owner=, by=).
agent_transferred = Signal()

# A run reached its final status, exactly once (sender=Run, run=).
run_finished = Signal()

# An agent became public: created public or made public (sender=Agent, agent=, by=).
agent_published = Signal()

# A user forked an agent (sender=Agent, agent= the new fork, parent=, by=).
agent_forked = Signal()
