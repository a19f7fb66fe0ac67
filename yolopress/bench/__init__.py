"""Measure artifacts: accuracy on the test split and latency, through the deployment runners."""
