"""Compatibility layers for code written against other WebSocket libraries."""
