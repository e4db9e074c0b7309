"""Encoders: events -> bytes, one per output format (Tetragon JSON, compact lines)."""
