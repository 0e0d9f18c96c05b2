"""Detector training and export (an adapter around ultralytics)."""
