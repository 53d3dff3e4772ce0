"""`python -m gato_eval` is the same as the `gato-eval` console script."""

from gato_eval.cli import main

if __name__ == "__main__":
    main()
