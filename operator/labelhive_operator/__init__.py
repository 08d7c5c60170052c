"""The LabelHive kopf operator: ``LabelingProject`` → a running LabelHive installation."""

from __future__ import annotations

__version__ = "0.1.0"
