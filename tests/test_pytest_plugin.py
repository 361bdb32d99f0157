pytest_plugins = ["pytester"]


def test_plugin_is_registered_and_inert(pytester):
    pytester.makepyfile("def test_ok():\n    assert True\n")
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--validate-config=PATH*"])
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_config_option_says_it_is_not_available_yet(pytester):
    pytester.makepyfile("def test_ok():\n    assert True\n")
    result = pytester.runpytest_subprocess("--validate-config", "validation.yaml")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--validate-config: the pytest integration is not available*"])
