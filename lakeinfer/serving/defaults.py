"""Where ``lakeinfer serve`` listens unless told otherwise (importable without the web stack)."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
