"""The engine: reading threads, answering, commands and the live configuration, independent of the surface."""
