"""The entry points of the `ecl` command: one module per subcommand (train, evaluate, predict,
export, compare + tuning, data preview). They read a Config or a run folder and call `training`."""
