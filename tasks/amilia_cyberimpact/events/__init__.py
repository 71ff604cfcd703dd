"""Amilia webhook events applied to Cyberimpact: the batch handler of the drain engine (handler.py), and
its steps: model (read an envelope), fetch (fresh Amilia state), gather and plan (what to change), write
(Cyberimpact), batch (plan then write, as Prefect tasks)."""
