"""Exports: a project's tasks, answers and results as files, the labeled dataset (CSV, JSON
Lines, Parquet, an S3 ImageFolder tree) and its preview, built by background jobs. Below the web
layer: no view and nothing of the API is imported here."""
