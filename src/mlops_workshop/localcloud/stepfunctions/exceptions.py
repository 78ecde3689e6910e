"""Step Functions' error codes that moto's interpreter answers without one (its parser's exceptions set `code`,
which moto's AWSError does not read)."""

from moto.core.exceptions import AWSError


class InvalidDefinition(AWSError):
    TYPE = "InvalidDefinition"
    STATUS = 400
