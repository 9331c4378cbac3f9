"""Rooms: broadcast, presence, history and recovery, in one process or across many.

See docs/rooms.md. The broker seam is :mod:`wsframework.rooms.broker`.
"""
