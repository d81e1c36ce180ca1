"""An embedded DocuSign (JWT Grant account server + Monitor stream) for tests, demos and benchmarks.

It imports nothing from the rest of ``docusign_input`` so it can be read and changed alone.
"""

from .config import SimulatorConfig
from .faults import FAULT_KINDS, Fault
from .server import RecordedRequest
from .simulator import Simulator

__all__ = ["Simulator", "SimulatorConfig", "Fault", "FAULT_KINDS", "RecordedRequest"]
