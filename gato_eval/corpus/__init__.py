"""The training corpus: mixtures, packed sequences, the token stream, text and captions."""
