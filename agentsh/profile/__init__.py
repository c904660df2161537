"""Profile store: load, validate and merge admin-written profiles."""

from __future__ import annotations

from .load import EMBEDDED_DIR, Host, find_profile, load_profile
from .model import ANY_REST, DECISIONS, STRICTNESS, ArgPattern, Credential, Profile, ProfileTests, Rule

__all__ = [
    "ANY_REST",
    "DECISIONS",
    "EMBEDDED_DIR",
    "STRICTNESS",
    "ArgPattern",
    "Credential",
    "Host",
    "Profile",
    "ProfileTests",
    "Rule",
    "find_profile",
    "load_profile",
]
