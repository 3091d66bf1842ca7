"""The shared registry: SQLAlchemy models, the engine, Alembic migrations, reference data."""
