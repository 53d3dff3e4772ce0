"""The control suites: the task catalog and registry, one module per family, reference scores.

Start at `registry` (`get_task`, `get_suite`, `make_env`); `spec` holds the observation contract.
"""
