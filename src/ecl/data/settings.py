"""The type of the settings every reader takes: the `data` section of a run's config
(``ecl.config.DataConfig``). config.py sits above data/ (it checks `data.name` against the dataset
table), so data/ never imports it — not even for type hints; any object with DataConfig's
attributes is accepted."""

from __future__ import annotations

from typing import Any

__all__ = ["DataConfig"]

DataConfig = Any  # ecl.config.DataConfig (name, root, image_size, recipe, ...)
