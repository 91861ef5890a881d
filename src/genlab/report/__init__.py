"""Plots and (later) HTML reports built from run folders."""
