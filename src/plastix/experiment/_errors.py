"""Errors and limits shared by every module of :mod:`plastix.experiment` (the bottom layer)."""


class UserError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


#: Seeds are below this: pycma takes ``seed + 1``, which must fit in 32 bits.
SEED_LIMIT = 2**32 - 1
