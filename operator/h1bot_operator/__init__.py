"""h1bot operator: reconciles SlackBot resources into bot Deployments (kopf)."""
