"""``mspgsen report`` (package ``reporting``, so it does not shadow the API function ``mspgsen.report``): one self-contained HTML page about one run or several side by side.

``runfiles`` reads a run folder, ``plots`` draws the curves with matplotlib, ``page`` writes the HTML with every
picture inlined as a data URI, so the file can be mailed or attached to an issue and still show everything.
"""
from .page import build_report

__all__ = ["build_report"]
