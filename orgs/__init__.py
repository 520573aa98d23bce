"""orgs: organizations, memberships, projects, invites and API keys."""
