"""Compartmental models declared as data: the ``[model]`` section of a run config
(:mod:`~spreadwatch.model.declared.spec`), its presets, and its compilation into arrays the
engines' compiled kernels step (:mod:`~spreadwatch.model.declared.compiled`)."""
