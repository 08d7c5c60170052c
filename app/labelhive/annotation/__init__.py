"""Annotation: claim, submit, skip, undo, renew and progress, for every entry point.

:mod:`.service` is what the labeling page, the API and the CLI call; :mod:`.core` holds the
rules as pure decisions; :mod:`.store` is the executors' protocol, :mod:`.sqlite` and
:mod:`.postgres` the two executors, over :mod:`.statements` (the SQL) and :mod:`.operations`
(the rare operations, written once for both).
"""
