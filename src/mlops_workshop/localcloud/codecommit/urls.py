"""The paths CodeCommit's git hosting answers: git's smart HTTP, unsigned (as git's own credential helper)."""

GIT_PATH = r"^/v1/repos/(?P<repo>[A-Za-z0-9._-]+?)(?:\.git)?/(?P<rest>{})$"

unsigned_paths = {
    GIT_PATH.format(r"info/refs"): {"GET": "GitSmartHttp"},
    GIT_PATH.format(r"git-upload-pack|git-receive-pack"): {"POST": "GitSmartHttp"},
}
