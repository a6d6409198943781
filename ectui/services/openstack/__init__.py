"""OpenStack access through openstacksdk: one module per proxy, blocking calls wrapped once here."""
