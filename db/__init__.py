"""Storage: schema (Alembic migrations), the engine, and repositories. Only this package writes SQL."""
