"""mspgsen: MSPG-SEN and the GANs it builds on — train, evaluate and compare them on the same engine.

    import mspgsen
    result = mspgsen.train("dcgan", overrides=["train.steps=500"])
    G = mspgsen.load_generator(result.run_dir)
    images = G(torch.randn(16, G.z_dim))          # in [-1, 1]
    images = mspgsen.generate(result.run_dir, seeds=range(16), trunc=0.7)
    mspgsen.evaluate(result.run_dir, metrics="fid,kid", n=1000)      # -> {'fid': ..., 'kid': ...}
    mspgsen.export(result.run_dir, "onnx")                          # -> ExportResult(path, max_abs_diff, ...)
    mspgsen.report([result.run_dir])                                # -> RUN/report.html
"""
__version__ = "0.1.0"

from .api import GeneratorHandle, evaluate, export, generate, load_generator, report, train  # noqa: E402
from .config import Config, load_config  # noqa: E402
from .errors import MspgsenError  # noqa: E402

__all__ = ["Config", "GeneratorHandle", "MspgsenError", "__version__", "evaluate", "export", "generate", "load_config",
           "load_generator", "report", "train"]
