"""The monitoring part of the JSON API (docs/API.md, Monitoring).

Each concern keeps its own Router module; this one mounts them (config/api.py mounts this).
"""

from ninja import Router

router = Router(tags=["monitoring"])
