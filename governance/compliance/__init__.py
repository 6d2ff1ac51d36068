"""Compliance workflows above the document domain: data-subject requests, retention, the inventory export.

They call the domain's services and selectors (``rag.services``, ``rag.selectors``) and never its tables; the
primitives below them (``governance.access``, ``audit``, ``pii``, ``roles``, ``special``, ``inventory``) never
import them or the domain. The layering is checked in CI (``[tool.importlinter]`` in pyproject.toml).
"""
