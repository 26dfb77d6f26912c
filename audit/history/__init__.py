"""The history store (SQLAlchemy, Alembic migrations) and `hulian diff`."""
