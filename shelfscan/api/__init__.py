"""HTTP adapter: FastAPI routes and schemas around the pure core."""
