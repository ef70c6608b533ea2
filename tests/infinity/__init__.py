"""Tests of the Infinity client: protocol, options, faults and a real Infinity server."""
