"""The ground floor: contracts every layer shares; imports nothing of gato_eval above it."""
