"""Deployment settings stored in the database (sign-up policy), edited by admins."""
