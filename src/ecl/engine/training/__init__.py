"""What a run is made of: its context, the epoch step and loop, the objective, schedule, progress,
protocol, results, and the run folder and checkpoint formats. Imports nothing from `commands`."""
