"""CloudFormation on the local cloud: stacks built resource by resource, with the types moto lacks."""
