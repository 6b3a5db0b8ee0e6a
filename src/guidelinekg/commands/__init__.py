"""Subcommands of the guidelinekg CLI, one module each."""
