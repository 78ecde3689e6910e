"""Glue's errors, named by AWS's error codes."""

from __future__ import annotations

from ..protocol import AwsError


class EntityNotFoundException(AwsError):
    code = "EntityNotFoundException"


class InvalidInputException(AwsError):
    code = "InvalidInputException"
