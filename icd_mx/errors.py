"""One exception type for bad input, so every tool can print one line and exit.

Errors are raised at the boundary (the reader of a file) with the file name and
the problem; tools catch :class:`InputError` and print ``error: <file>: <problem>``.
"""


class InputError(Exception):
    """Bad input: a missing, truncated or inconsistent file, or a bad config.

    Parameters
    ----------
    path : str
        The file (or config key) that is wrong.
    problem : str
        What is wrong with it, in a few words.
    """

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        # Survive pickling, so an error raised in a loader worker process reaches the tool intact.
        return type(self), (self.path, self.problem)
