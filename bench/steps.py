"""The steps of the fogbridge benchmark (see docs/benchmarks.md). Each step starts what it
needs on free loopback ports, measures, stops it again, and returns plain figures.

Bench is put together from one module per step group: step_drain (1, 2, 5), step_live (3, 4a, 7),
step_bytes (4b), step_forward (8) and step_sink (9), on step_base; step_fleet (10) and step_pod
take a Bench and run on its stack. Not thread-safe: one step at a time."""

from step_base import BATCH_TOPIC, READINGS_TOPIC, BenchBase, per_second  # noqa: F401
from step_bytes import BytesSteps
from step_drain import DrainSteps, pick_median_round  # noqa: F401
from step_forward import ForwardSteps, forward_figures  # noqa: F401
from step_live import LiveSteps
from step_sink import SinkSteps


class Bench(DrainSteps, LiveSteps, BytesSteps, ForwardSteps, SinkSteps, BenchBase):
    """Runs the steps with the settings in `args` on `stack`, reporting through `progress`."""
