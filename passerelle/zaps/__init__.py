"""Zap engine: spec, templating, registry (apps, triggers, actions), polling dedupe, runner (docs/zaps.md)."""
