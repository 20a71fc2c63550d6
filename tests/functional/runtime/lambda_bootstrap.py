"""What the Lambda python3.12 runtime does for one invocation, run by the layer's python3.12.

Executed as ``python -I -c <this source> <code dir> <handler> <event file> <result file> <writable dir>``
(``-I``: no PYTHONPATH, no user site, no current directory on sys.path), like Lambda:
the function's unpacked zip first on sys.path, then the layer's packages (the venv's
site-packages), then the standard library; nothing of the repository. Only the
writable directory (Lambda's /tmp) may be written: an audit hook refuses any Python-level
write elsewhere (the test also makes the code directory read-only at the OS level).
The handler's return value, or its exception, goes to the result file as JSON.
"""

import importlib
import json
import os
import sys
import time
import traceback

code_dir, handler_spec, event_file, result_file, writable = sys.argv[1:6]
_WRITABLE = (os.path.realpath(writable) + os.sep, "/dev/")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = {"os.mkdir", "os.remove", "os.rmdir", "os.truncate", "os.chmod", "os.chown", "os.symlink", "os.link"}


def _check(path: object) -> None:
    if isinstance(path, int) or path is None:
        return
    real = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
    if not (real + os.sep).startswith(_WRITABLE):
        raise PermissionError(f"read-only file system (Lambda): {real}")


def _audit(event: str, args: tuple) -> None:
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
        if writing:
            _check(path)
    elif event in ("os.rename", "os.replace"):
        _check(args[0])
        _check(args[1])
    elif event in _PATH_EVENTS:
        _check(args[0])


sys.path.insert(0, code_dir)
sys.addaudithook(_audit)


class LambdaContext:
    """The attributes of Lambda's context object our handlers and Powertools read."""

    def __init__(self, function_name: str, timeout_s: int = 900) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-2:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = "00000000-0000-4000-8000-000000000000"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "runtime-test"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    with open(event_file, encoding="utf-8") as f:
        event = json.load(f)
    module_name, _, attr = handler_spec.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), attr)
        result = {"ok": True, "value": handler(event, LambdaContext(os.environ["AWS_LAMBDA_FUNCTION_NAME"]))}
    except BaseException as exc:  # reported to the test, which shows it
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result["runtime"] = {
        "python": list(sys.version_info[:3]),
        "sys_path": sys.path,
        "modules": {
            name: getattr(sys.modules[name], "__file__", None)
            for name in ("common", "aws_lambda_powertools", "pyarrow", "pg8000", "boto3")
            if name in sys.modules
        },
    }
    with open(result_file, "w", encoding="utf-8") as f:
        json.dump(result, f, default=str)
    return 0 if result["ok"] else 1


sys.exit(main())
