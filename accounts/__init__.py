"""accounts: who you are (users and their login)."""
