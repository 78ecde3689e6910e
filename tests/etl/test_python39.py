"""etl/preprocess.py must stay valid Python 3.9 (Glue's Python shell) and use only what that runtime ships."""

import ast
import py_compile
import subprocess
import sys

import pytest

GLUE_PYTHON_SHELL_PACKAGES = {"boto3", "botocore", "numpy", "pandas"}


@pytest.fixture(scope="module")
def source(repo_root):
    return (repo_root / "etl" / "preprocess.py").read_text()


def test_the_python39_grammar_check_can_fail():
    with pytest.raises(SyntaxError):
        ast.parse("match command:\n    case 1:\n        pass\n", feature_version=(3, 9))
    with pytest.raises(SyntaxError):
        ast.parse("try:\n    pass\nexcept* ValueError:\n    pass\n", feature_version=(3, 9))


def test_script_parses_with_the_python39_grammar(source):
    ast.parse(source, filename="etl/preprocess.py", feature_version=(3, 9))


def test_no_annotation_needs_a_newer_runtime(source):
    """`X | Y` in an annotation parses under 3.9 but fails when evaluated there; so do builtin generics in 3.8-."""
    tree = ast.parse(source)
    future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and
                 any(a.name == "annotations" for a in n.names) for n in tree.body)
    annotations = [n.annotation for n in ast.walk(tree) if isinstance(n, (ast.arg, ast.AnnAssign)) and n.annotation]
    annotations += [n.returns for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.returns]
    unions = [ast.unparse(a) for a in annotations for n in ast.walk(a) if isinstance(n, ast.BinOp)]
    assert future or not unions, f"PEP 604 unions need Python 3.10 at run time: {unions}"


def test_script_imports_only_the_standard_library_and_glue_packages(source):
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    outside = sorted(imported - GLUE_PYTHON_SHELL_PACKAGES - set(sys.stdlib_module_names))
    assert not outside, f"Glue's Python shell does not ship {outside}"
    assert "mlops_workshop" not in imported


def test_script_compiles_with_a_real_python39(repo_root, glue_python, tmp_path):
    result = subprocess.run(
        [glue_python.path, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
         str(repo_root / "etl" / "preprocess.py"), str(tmp_path / "preprocess.pyc")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_script_compiles_here(repo_root, tmp_path):
    py_compile.compile(str(repo_root / "etl" / "preprocess.py"), cfile=str(tmp_path / "p.pyc"), doraise=True)
