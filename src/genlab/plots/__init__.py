"""Plots as PNG (matplotlib): a run's training curves and gradient histograms (`genlab.plots.run`), and
the figures of a study report (`genlab.plots.study`)."""
