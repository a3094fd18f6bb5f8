"""Backbones and the ECL network (DESIGN §1 "Network")."""

from .export import InferenceModel, export_model, load_safetensors_model
from .heads import CosineClassifier, ProjectionHead, PrototypeMap
from .network import ECLNetwork, ECLOutput
from .registry import BACKBONES, build_backbone

__all__ = [
    "BACKBONES",
    "build_backbone",
    "ECLOutput",
    "ECLNetwork",
    "CosineClassifier",
    "ProjectionHead",
    "PrototypeMap",
    "InferenceModel",
    "export_model",
    "load_safetensors_model",
]
