"""`vigil run`'s last line: kernel counters that are no lost events (exec map
full, enforcer notes no call acted on) are not counted as lost."""

from __future__ import annotations

from vigil.agent import Agent
from vigil.process.cache import ProcessCache
from vigil.process.clock import Clock
from vigil.run import _summary

from .test_agent_generic import Sink


def summary(losses: dict[str, int]) -> str:
    sink = Sink()
    agent = Agent(ProcessCache("vm", Clock(monotonic_to_wall=0, boottime_to_wall=0)), sink,
                  sink.encode)
    return _summary(agent, losses, {})


def test_enforcer_notes_are_reported_apart_from_losses() -> None:
    assert summary({"ringbuf_full_generic": 2, "enforcer_overwritten": 3,
                    "enforcer_unused": 1, "exec_map_full": 0}) == (
        "vigil: stopped. events seen: 0 (none); exported: 0; lost: 2 (ringbuf_full_generic 2)"
        "; enforcer notes not acted on: overwritten 3, unused 1")


def test_nothing_to_say_of_the_enforcer_says_nothing() -> None:
    assert summary({"enforcer_overwritten": 0, "enforcer_unused": 0}) == (
        "vigil: stopped. events seen: 0 (none); exported: 0; lost: 0")
