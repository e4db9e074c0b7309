"""Tetragon's API as vigil speaks it.

proto/tetragon/*.proto declare, with Tetragon's package, names, numbers and
types, the messages vigil emits; `make build` generates their Python modules
into gen/ (vigil.api.gen.tetragon.events_pb2 and its imports).
"""
