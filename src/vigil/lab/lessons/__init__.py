"""One module per lesson; vigil.lab.registry lists them in order."""
