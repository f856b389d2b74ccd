"""Thin adapters between the core and the outside world (Slack, OpenAI, Kubernetes, HTTP)."""
