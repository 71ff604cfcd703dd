"""Amilia → Cyberimpact: the seed's mapping and transforms, the initial sync, the reconciliation and
the webhook events (events/), as Prefect tasks and the pure functions they wrap."""
