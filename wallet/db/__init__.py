"""Database layer: declarative base, column types, engines and sessions."""
