"""Subcommands of the ``hpefast`` CLI: one module each with ``add_arguments(parser)`` and ``main(args)``."""
