from conveyor.cli.main import main


def test_help_lists_the_pipeline_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("init", "run", "status", "dag", "runs", "show", "diff", "logs"):
        assert command in out
