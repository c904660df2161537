"""Credentials: kept in the OS keyring, injected into one approved process, masked in output."""
