"""The monitoring part of the JSON API (docs/API.md, Monitoring); config/api.py mounts it.

Each concern keeps its own Router module: api_live (a run's events, an agent's health) and
api_ops (the ops board, a run's trace).
"""

from ninja import Router

from .api_live import live_router
from .api_ops import ops_router

router = Router(tags=["monitoring"])
router.add_router("", live_router)
router.add_router("", ops_router)
