"""Adapters for the agents people use: their shell wrappers, hooks, MCP, launch."""
