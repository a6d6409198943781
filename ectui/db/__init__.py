"""The data layer: ORM models, engines and sessions, migrations. Nothing else touches SQL."""
