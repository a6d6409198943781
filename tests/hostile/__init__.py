"""Servers that misbehave on purpose, for tests of the client side against broken or hostile peers."""
