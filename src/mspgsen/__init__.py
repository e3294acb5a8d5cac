"""mspgsen: MSPG-SEN and the GANs it builds on — train, evaluate and compare them on the same engine.

    import mspgsen
    result = mspgsen.train("dcgan", overrides=["train.steps=500"])
    G = mspgsen.load_generator(result.run_dir)
    images = G(torch.randn(16, G.z_dim))          # in [-1, 1]
"""
__version__ = "0.1.0"

from .api import GeneratorHandle, load_generator, train  # noqa: E402
from .config import Config, load_config  # noqa: E402
from .errors import MspgsenError  # noqa: E402

__all__ = ["Config", "GeneratorHandle", "MspgsenError", "__version__", "load_config", "load_generator", "train"]
