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

from .errors import MspgsenError  # noqa: E402

#: Public names and the module that defines each. They are imported on first use, so that ``mspgsen --help`` and
#: a Ctrl-C while torch is still loading reach the CLI's handlers instead of a traceback from an import.
_LAZY = {"GeneratorHandle": "api", "load_generator": "api", "train": "api", "generate": "api", "evaluate": "api",
         "export": "exporter", "report": "reporting", "Config": "config", "load_config": "config"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mspgsen' has no attribute '{name}'")

__all__ = ["Config", "GeneratorHandle", "MspgsenError", "__version__", "evaluate", "export", "generate", "load_config",
           "load_generator", "report", "train"]
