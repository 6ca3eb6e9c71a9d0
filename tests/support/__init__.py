"""Test support: a stub of the Anthropic Messages API and a driver of the real Claude Code CLI."""
