"""docusign-input: DocuSign Monitor security events as JSON lines for log pipelines.

The command line (`docusign-input`, `python -m docusign_input`) is the product; the names below are
the small public API for embedding and testing it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
