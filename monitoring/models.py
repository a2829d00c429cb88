"""Monitoring's own tables. It reads other apps' tables and never writes them."""
