"""Generative models: the common interface, the registry, shared networks and one file per family."""

from genlab.models.base import GenerativeModel
from genlab.models.registry import create_model, get_model_class, list_models, register

__all__ = ["GenerativeModel", "create_model", "get_model_class", "list_models", "register"]
