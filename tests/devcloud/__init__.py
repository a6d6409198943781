"""Tests of the built-in dev cloud (ectui.devcloud), driven by the real openstacksdk, OSC and aioftp."""
