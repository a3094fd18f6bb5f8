"""The engine: builds runs from a Config and drives them (imports models, losses, data, evaluation).

Two packages, one direction (``commands`` imports ``training``, never the reverse):

- ``commands``  the entry points of the `ecl` command, one module each: ``train``, ``evaluate``,
                ``predict``, ``export``, ``compare`` (with its grids in ``tuning``), ``preview``
                (`ecl data preview`)
- ``training``  what a run is made of: ``context`` (`build_run → RunContext`), ``announce`` (the
                start-up lines), ``epoch`` (one training epoch, one evaluation pass), ``loop`` (the
                epoch loop), ``objective``, ``schedule``, ``distributed``, ``progress``, ``protocol``
                (the method's values for keys left null), ``results`` (final.json's content, plots,
                report), and the two file formats: ``run_folder`` and ``checkpoint`` (``errors`` holds
                their exceptions and imports nothing)

The data plan (size, recipe, views, data path) is `ecl.data.plan`; the loaders are `ecl.data.loading`.
"""
