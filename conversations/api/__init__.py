"""The conversations API: /v1/conversations/* and Jan's /v1/conv/workspaces/*."""
