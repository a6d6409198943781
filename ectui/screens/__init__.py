"""Domain screens of ectui: one module and one .tcss per domain."""
