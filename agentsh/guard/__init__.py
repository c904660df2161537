"""Exec-time layers: the exec guard (ptrace) and Landlock confinement of each approved command."""
