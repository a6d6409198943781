"""The scriptable subcommands, one module per domain; each has `register(subparsers)`."""
