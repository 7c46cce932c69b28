"""The error bad data raises: a ValueError whose message names the file, column or value
and says what to do."""


class DataError(ValueError):
    pass
