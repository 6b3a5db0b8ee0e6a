"""Subcommands of the guidelinekg CLI, one module each: ``add_arguments(parser)`` and ``run(args) -> int``.

The interface layer: argument parsing and output only; the work is done by the packages below. A new
subcommand is a module here plus a line in :data:`guidelinekg.cli.COMMANDS`.

May import: any package of the library; nothing imports it but :mod:`guidelinekg.cli`.
"""
