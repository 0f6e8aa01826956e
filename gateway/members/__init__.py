"""One module per kind of member commons (gen3, generic DRS, in-process reference) behind one protocol."""
