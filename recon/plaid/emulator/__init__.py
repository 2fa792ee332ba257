"""A faithful local Plaid API (the subset recon uses) for the demo, tests and benchmarks.

The real plaid-python client talks to :class:`EmulatorServer` over HTTP on 127.0.0.1;
:class:`Emulator` holds the data and scripted :class:`Fault` s; :func:`serve` runs it from the CLI.
"""

from recon.plaid.emulator.faults import DropConnection, Fault, FaultKind
from recon.plaid.emulator.server import EmulatorServer, serve
from recon.plaid.emulator.state import Emulator

__all__ = ["DropConnection", "Emulator", "EmulatorServer", "Fault", "FaultKind", "serve"]
