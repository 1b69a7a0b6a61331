"""Free pool slots handed to the steps queued for them.

Every step that writes a lake table holds that table's pool slot. A step that finds no free
slot joins the pool's queue, and a step that frees a slot hands it to the head of the queue.
The two happen in different processes with no common transaction, so a step can see the slot
held, the holder free it (to an empty queue), and the step then join the queue: it waits
for ever on a free slot. :func:`hand_over_free_slots` gives each pool's free slots to its
queue, as freeing does. CLI runs do so every few seconds while they execute
(``cli/instance.py``); the ``pool_slot_watch`` sensor does it in a deployment whose daemon
launches the runs (``dagster dev``, Docker).
"""

from __future__ import annotations

import dagster as dg

SLOT_WATCH_SENSOR = "pool_slot_watch"
SLOT_WATCH_INTERVAL_S = 30


def hand_over_free_slots(instance: dg.DagsterInstance) -> list[str]:
    """Give each pool's free slots to the steps queued for it (highest priority, oldest
    first), as freeing a slot does; returns the pools that had a free slot and a queue."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    handed = []
    for key in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(key)
        queued = sum(1 for step in info.pending_steps if step.assigned_timestamp is None)
        assigned = len(info.pending_steps) - queued
        for _ in range(min(queued, info.slot_count - assigned)):
            storage.assign_pending_steps([key])
        if queued and info.slot_count > assigned:
            handed.append(key)
    return handed


def build_slot_watch_sensor() -> dg.SensorDefinition:
    """A sensor that requests no run: every ``SLOT_WATCH_INTERVAL_S`` it hands free pool
    slots to the steps queued for them. On by default (it changes nothing while no step
    waits on a free slot)."""

    @dg.sensor(
        name=SLOT_WATCH_SENSOR,
        minimum_interval_seconds=SLOT_WATCH_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Hands each table's free pool slot to the step queued for it, should a step have "
            "joined the queue just as the slot was freed (it would wait for ever). Requests "
            "no run."
        ),
    )
    def pool_slot_watch(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        handed = hand_over_free_slots(context.instance)
        if handed:
            context.log.warning(
                "Handed a free slot to the step waiting for it in: " + ", ".join(handed)
            )
            return dg.SkipReason(f"handed a free slot over in {len(handed)} pool(s)")
        return dg.SkipReason("no step waits on a free slot")

    return pool_slot_watch
