"""Detections for DocuSign Monitor events: Sigma rules and their conversions (see README.md)."""
