"""CodeCommit on the local cloud: bare git repositories served over git's smart HTTP."""
