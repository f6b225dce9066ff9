"""Checks sharing one tick: each part runs, a failing part fails the tick after the others."""

from __future__ import annotations

import dagster as dg
import pytest

from sensors.combined import PartsFailedError, combined_sensor, housekeeping_sensor


class Counter(dg.ConfigurableResource):
    name: str = "counter"


def test_each_part_runs_with_its_resources_and_the_tick_says_what_each_did() -> None:
    seen: list[str] = []

    @dg.sensor()
    def first(counter: Counter) -> dg.SkipReason:
        seen.append(f"first:{counter.name}")
        return dg.SkipReason("nothing stale")

    @dg.sensor()
    def second(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        seen.append("second")
        return dg.SensorResult(
            asset_events=[dg.AssetObservation(asset_key="x", metadata={"n": 1})],
            skip_reason=dg.SkipReason("observed"),
        )

    both = combined_sensor("both", [first, second], minimum_interval_seconds=30)
    assert both.required_resource_keys == {"counter"}
    assert both.minimum_interval_seconds == 30
    result = both(dg.build_sensor_context(resources={"counter": Counter(name="c1")}))
    assert seen == ["first:c1", "second"]
    assert result.skip_reason.skip_message == "first: nothing stale; second: observed"
    assert [e.asset_key.path for e in result.asset_events] == [["x"]]
    assert result.run_requests is None or result.run_requests == []

    # The daemon's path (evaluate_tick) gives the same tick.
    seen.clear()
    context = dg.build_sensor_context(resources={"counter": Counter(name="c2")})
    data = both.evaluate_tick(context)
    assert seen == ["first:c2", "second"]
    assert data.skip_message == "first: nothing stale; second: observed"


def test_a_failing_part_fails_the_tick_only_after_the_others_ran() -> None:
    seen: list[str] = []

    @dg.sensor()
    def broken() -> dg.SkipReason:
        raise ConnectionError("gateway down")

    @dg.sensor()
    def after() -> dg.SkipReason:
        seen.append("after")
        return dg.SkipReason("fine")

    both = combined_sensor("both", [broken, after], minimum_interval_seconds=30)
    with pytest.raises(PartsFailedError, match="broken failed: ConnectionError"):
        both(dg.build_sensor_context())
    assert seen == ["after"]


def test_a_part_that_wants_runs_or_a_cursor_is_refused() -> None:
    @dg.sensor()
    def cursor_keeper() -> dg.SensorResult:
        return dg.SensorResult(cursor="7")

    both = combined_sensor("both", [cursor_keeper], minimum_interval_seconds=30)
    with pytest.raises(TypeError, match="register it on its own"):
        both(dg.build_sensor_context())


def test_housekeeping_needs_the_union_of_its_parts_resources() -> None:
    assert housekeeping_sensor.required_resource_keys == {
        "db",
        "alerts",
        "razorpayx",
        "settlement",
    }
