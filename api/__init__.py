"""The faces of OneMap: the FastAPI app and the ``onemap`` command line."""
