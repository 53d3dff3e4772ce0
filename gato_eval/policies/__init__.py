"""Policy adapters behind one small batched contract (see `gato_eval.core.policy`)."""
