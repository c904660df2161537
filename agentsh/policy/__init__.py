"""Policy stage: decide each simple command of a line against a profile."""

from __future__ import annotations

from .decision import Decision, Verdict
from .engine import Policy

__all__ = ["Decision", "Policy", "Verdict"]
