"""mspgsen: MSPG-SEN and the GANs it builds on."""
__version__ = "0.1.0"
