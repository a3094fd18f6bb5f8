"""Backbones and the ECL network (docs/METHOD.md, "Network")."""

from .export import InferenceModel, export_model, load_safetensors_model
from .heads import CLASSIFIER_INITS, CosineClassifier, ProjectionHead, PrototypeMap, normed_uniform_
from .network import PROTOTYPE_HEADS, ECLNetwork, ECLOutput
from .registry import BACKBONES, build_backbone, check_pretrained_weights
from .weights import WeightsError, load_backbone_weights

__all__ = [
    "BACKBONES",
    "build_backbone",
    "check_pretrained_weights",
    "WeightsError",
    "load_backbone_weights",
    "ECLOutput",
    "ECLNetwork",
    "CosineClassifier",
    "ProjectionHead",
    "PrototypeMap",
    "PROTOTYPE_HEADS",
    "CLASSIFIER_INITS",
    "normed_uniform_",
    "InferenceModel",
    "export_model",
    "load_safetensors_model",
]
