"""Imports: task files parsed (CSV, JSON, JSON Lines) and written in batches, and S3 prefixes
imported as tasks, by background jobs. Below the web layer: the import page
(:mod:`labelhive.projects.importing`) and the API call in; nothing here imports a view or the API.
"""
