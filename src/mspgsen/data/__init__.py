"""Data: sources (bundled subset, IDX, image folders, CIFAR-10, npz, toy mixtures), shape fixes and the stream."""
from .array import ImageArray, fit_shape, next_pow2
from .sources import BUILTINS, load_source
from .prepare import prepare_training_data
from .stream import Batch, DataStream, EpochSampler, make_sampler, to_model_range

__all__ = ["BUILTINS", "Batch", "DataStream", "EpochSampler", "ImageArray", "fit_shape", "load_source",
           "make_sampler", "next_pow2", "prepare_training_data", "to_model_range"]
