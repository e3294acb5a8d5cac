"""Metrics users can trust: FID, KID, precision/recall, density/coverage on the standard FID Inception-v3 features,
classifier scores for labelled grey data, and mode coverage for toy mixtures and stacked data. See docs/metrics.md."""
from .evaluate import evaluate_images, feature_metrics
from .fid import fid_from_features, frechet_distance, gaussian_stats, kid_from_features
from .modes import stacked_mode_coverage, toy_mode_coverage
from .prdc import prdc

__all__ = ["evaluate_images", "feature_metrics", "fid_from_features", "frechet_distance", "gaussian_stats",
           "kid_from_features", "prdc", "stacked_mode_coverage", "toy_mode_coverage"]
