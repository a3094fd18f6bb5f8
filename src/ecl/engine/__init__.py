"""The engine: builds runs from a Config and drives them (imports models, losses, data, evaluation).

One job per module:

- ``setup``       `build_run(config, bundle) → RunContext`: device, data plan, the one loader, network,
                  wrapped model, objective, optimiser, scaler, autocast (used by train, evaluate, benchmarks)
- ``epoch``       `train_one_epoch(ctx, loader, epoch, control)`, `evaluate(ctx, loader)`
- ``loop``        the epoch loop: stop flag, per-epoch record, checkpoint, TensorBoard, best on validation
- ``train``       `train()`: new or resumed run → build → restore → fit → finish
- ``startup``     the start-up lines of `ecl train` (size, recipe, backbone, steps; warnings)
- ``progress``    progress inside an epoch: a bar on a terminal, timed lines otherwise, the time estimate
- ``results``     final.json's content, plots, report and the summary table of a finished run
- ``run_folder``  `RunFolder`: the only place that names and writes the files of a run folder
- ``checkpoint``  the checkpoint format: build, atomic save, safe load, the one data check, `restore`,
                  `checkpoint_plan` (the data plan a checkpoint was trained with)
- ``errors``      `CheckpointError`, `DataMismatchError` (imports nothing from ecl)
- ``evaluate`` / ``predict`` / ``export``  the entry points of `ecl evaluate | predict | export`
- ``compare``     `ecl compare`: runs of several methods over seeds (statistics: ``ecl.evaluation.comparison``)
- ``protocol``    `resolve_protocol` / `resolve_config`: the method's values for the keys left null
- ``objective``, ``schedule``, ``distributed``: the total loss, lr schedule, DDP helpers

The data plan (size, recipe, views, data path) is `ecl.data.plan`; the loaders are `ecl.data.loading`.
"""
